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


def test_members_read_the_subnets_of_external_networks_they_may_use(cloud: Cloud) -> None:
    h, alice, bob = cloud.admin, cloud.member("alice"), cloud.member("bob")

    def subnet(net: dict[str, str], cidr: str) -> str:
        body = {"subnet": {"network_id": net["id"], "cidr": cidr, "ip_version": 4}}
        ident: str = cloud.post(h, "/subnets", body)["subnet"]["id"]
        return ident

    public = subnet(cloud.post(h, "/networks", {"network": {"router:external": True}})["network"],
                    "203.0.113.0/24")  # fmt: skip
    private = subnet(cloud.post(h, "/networks", {"network": {}})["network"], "10.1.0.0/24")
    # external for bob's project only
    only_bob = cloud.post(h, "/networks", {"network": {}})["network"]
    cloud.post(h, "/rbac-policies", {"rbac_policy": {
        "object_type": "network", "object_id": only_bob["id"], "action": "access_as_external",
        "target_tenant": cloud.projects["bob"]}})  # fmt: skip
    bobs = subnet(only_bob, "198.51.100.0/24")

    def seen(who: dict[str, str]) -> set[str]:
        r = cloud.c.get(f"{N}/subnets", headers=who)
        assert r.status_code == 200, r.text
        return {s["id"] for s in r.json()["subnets"]}

    assert seen(alice) == {public}
    assert seen(bob) == {public, bobs}
    assert cloud.c.get(f"{N}/subnets/{public}", headers=alice).status_code == 200
    assert cloud.c.get(f"{N}/subnets/{bobs}", headers=alice).status_code == 404
    assert cloud.c.get(f"{N}/subnets/{private}", headers=alice).status_code == 404
    # reading is all: the subnet stays the admin's
    r = cloud.c.put(f"{N}/subnets/{public}", headers=alice, json={"subnet": {"name": "x"}})
    assert r.status_code in (403, 404)
