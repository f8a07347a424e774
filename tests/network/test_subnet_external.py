"""subnet-external-network: a subnet shows (and filters on) its network's router:external."""

from __future__ import annotations

from tests.network.conftest import Cloud, N


def test_subnets_show_and_filter_router_external(cloud: Cloud) -> None:
    h = cloud.admin
    ext = cloud.post(h, "/networks", {"network": {"router:external": True}})["network"]
    net = cloud.post(h, "/networks", {"network": {}})["network"]
    pub = cloud.post(h, "/subnets", {"subnet": {"network_id": ext["id"],
                     "cidr": "203.0.113.0/24", "ip_version": 4}})["subnet"]  # fmt: skip
    priv = cloud.post(h, "/subnets", {"subnet": {"network_id": net["id"],
                      "cidr": "10.0.0.0/24", "ip_version": 4}})["subnet"]  # fmt: skip
    assert (pub["router:external"], priv["router:external"]) == (True, False)
    shown = cloud.c.get(f"{N}/subnets/{pub['id']}", headers=h).json()["subnet"]
    assert shown["router:external"] is True

    def listed(query: str) -> set[str]:
        r = cloud.c.get(f"{N}/subnets?{query}", headers=h)
        assert r.status_code == 200, r.text
        return {s["id"] for s in r.json()["subnets"]}

    assert listed("router:external=True") == {pub["id"]}
    assert listed("router:external=False") == {priv["id"]}
    # the subnet follows its network
    r = cloud.c.put(f"{N}/networks/{net['id']}", headers=h,
                    json={"network": {"router:external": True}})  # fmt: skip
    assert r.status_code == 200, r.text
    assert listed("router:external=true") == {pub["id"], priv["id"]}
    # read-only on the subnet
    r = cloud.c.put(f"{N}/subnets/{priv['id']}", headers=h,
                    json={"subnet": {"router:external": False}})  # fmt: skip
    assert r.status_code == 400
    assert "NeutronError" in r.json()
    exts = cloud.c.get(N + "/extensions", headers=h).json()["extensions"]
    assert "subnet-external-network" in {e["alias"] for e in exts}
