"""A project reader reads its project's networking resources and writes none."""

from __future__ import annotations

from tests.network.conftest import Cloud, N
from tests.policy.test_matrix import _user


def test_reader_reads_but_never_writes(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    project = cloud.projects["alice"]
    net = cloud.post(alice, "/networks", {"network": {"name": "n"}})["network"]
    reader = _user(cloud, "ann", project, "reader")

    assert cloud.c.get(f"{N}/networks/{net['id']}", headers=reader).status_code == 200
    listed = cloud.c.get(f"{N}/networks", headers=reader).json()["networks"]
    assert [n["id"] for n in listed] == [net["id"]]

    refused = [
        cloud.c.post(f"{N}/networks", headers=reader, json={"network": {"name": "r"}}),
        cloud.c.put(f"{N}/networks/{net['id']}", headers=reader, json={"network": {"name": "x"}}),
        cloud.c.post(f"{N}/routers", headers=reader, json={"router": {"name": "r"}}),
        cloud.c.post(
            f"{N}/security-groups", headers=reader, json={"security_group": {"name": "g"}}
        ),
        cloud.c.delete(f"{N}/networks/{net['id']}", headers=reader),
    ]
    for r in refused:
        assert r.status_code == 403, r.text
        assert r.json()["NeutronError"]["type"] == "PolicyNotAuthorized"
    names = [n["name"] for n in cloud.c.get(f"{N}/networks", headers=alice).json()["networks"]]
    assert names == ["n"]
