"""Server tags (2.26+), the actions log (os-instance-actions), access IPs,
the server password, and the compute request id header."""

from __future__ import annotations

from tests.compute.conftest import C, Cloud
from tests.compute.test_servers import boot


def test_tags(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    cloud.host("host1")
    sid = boot(cloud, alice, "vm1", "none", tags=["a"])
    t = f"/servers/{sid}/tags"
    assert cloud.get(alice, t) == {"tags": ["a"]}
    r = cloud.c.put(C + t + "/b", headers={**alice, "OpenStack-API-Version": "compute 2.79"})
    assert r.status_code == 201 and r.headers["Location"].endswith(f"/servers/{sid}/tags/b")
    cloud.call("PUT", alice, t + "/b", status=204)  # already there
    cloud.call("GET", alice, t + "/b", status=204)
    cloud.call("GET", alice, t + "/c", status=404)
    assert cloud.get(alice, f"/servers/{sid}")["server"]["tags"] == ["a", "b"]
    assert cloud.call("PUT", alice, t, {"tags": ["x", "y"]}) == {"tags": ["x", "y"]}
    cloud.call("DELETE", alice, t + "/x", status=204)
    cloud.call("DELETE", alice, t + "/x", status=404)
    cloud.call("PUT", alice, t, {"tags": ["no/slash"]}, status=400)
    cloud.call("PUT", alice, t, {"tags": [f"t{i}" for i in range(51)]}, status=400)
    cloud.call("DELETE", alice, t, status=204)
    assert cloud.get(alice, t) == {"tags": []}
    cloud.get(alice, t, status=404, version="2.25")  # not there before 2.26
    cloud.post(alice, "/servers", {"server": {"name": "v", "imageRef": "x", "flavorRef": "1",
               "networks": "none", "tags": ["a"]}}, status=400, version="2.51")  # fmt: skip
    cloud.get(cloud.member("bob"), t, status=404)


def test_instance_actions_request_ids_access_ips_password(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    cloud.host("host1")
    h = {**alice, "OpenStack-API-Version": "compute 2.79"}
    body = {"server": {"name": "vm1", "imageRef": "busybox", "flavorRef": "1", "networks": "none",
                       "accessIPv4": "192.0.2.7"}}  # fmt: skip
    from kumo.image.images import BUSYBOX_ID

    body["server"]["imageRef"] = BUSYBOX_ID
    r = cloud.c.post(C + "/servers", headers=h, json=body)
    assert r.status_code == 202, r.text
    sid, created_req = r.json()["server"]["id"], r.headers["x-compute-request-id"]
    assert created_req == r.headers["x-openstack-request-id"]
    r = cloud.c.post(C + f"/servers/{sid}/action", headers=h, json={"lock": None})
    lock_req = r.headers["x-compute-request-id"]
    actions = cloud.get(alice, f"/servers/{sid}/os-instance-actions")["instanceActions"]
    assert [(a["action"], a["request_id"]) for a in actions] == [
        ("lock", lock_req), ("create", created_req),
    ]  # fmt: skip
    one = cloud.get(alice, f"/servers/{sid}/os-instance-actions/{created_req}")["instanceAction"]
    assert (one["instance_uuid"], one["action"], one["events"]) == (sid, "create", [])
    assert "updated_at" in one and "updated_at" not in cloud.get(
        alice, f"/servers/{sid}/os-instance-actions", version="2.57")["instanceActions"][0]  # fmt: skip
    cloud.get(alice, f"/servers/{sid}/os-instance-actions/req-nothing", status=404)
    bob = cloud.member("bob")
    cloud.get(bob, f"/servers/{sid}/os-instance-actions", status=404)
    # access IPs are kept and validated
    server = cloud.get(alice, f"/servers/{sid}")["server"]
    assert (server["accessIPv4"], server["accessIPv6"]) == ("192.0.2.7", "")
    out = cloud.call("PUT", alice, f"/servers/{sid}", {"server": {"accessIPv6": "2001:db8::5"}})
    assert out["server"]["accessIPv6"] == "2001:db8::5"
    cloud.call("PUT", alice, f"/servers/{sid}", {"server": {"accessIPv6": "10.0.0.1"}}, status=400)
    # the password a guest posted: none
    assert cloud.get(alice, f"/servers/{sid}/os-server-password") == {"password": ""}
    cloud.call("DELETE", alice, f"/servers/{sid}/os-server-password", status=204)
    # deleted: its actions stay listed from 2.21, not before
    cloud.call("POST", alice, f"/servers/{sid}/action", {"unlock": None}, status=202)
    cloud.call("DELETE", alice, f"/servers/{sid}", status=204)
    actions = cloud.get(alice, f"/servers/{sid}/os-instance-actions")["instanceActions"]
    assert [a["action"] for a in actions] == ["delete", "unlock", "lock", "create"]
    cloud.get(alice, f"/servers/{sid}/os-instance-actions", status=404, version="2.20")
    cloud.get(bob, f"/servers/{sid}/os-instance-actions", status=404)
