"""Floating IP pools: the IPv4 subnets of the external networks a project may use."""

from __future__ import annotations

from tests.network.conftest import Cloud, N


def test_pools_follow_external_access(cloud: Cloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    ext = cloud.post(cloud.admin, "/networks", {"network": {"router:external": True}})["network"]
    v4 = cloud.post(cloud.admin, "/subnets", {"subnet": {"name": "pub", "network_id": ext["id"],
                    "cidr": "203.0.113.0/24", "ip_version": 4}})["subnet"]  # fmt: skip
    cloud.post(cloud.admin, "/subnets", {"subnet": {"network_id": ext["id"],
               "cidr": "2001:db8:1::/64", "ip_version": 6}})  # fmt: skip
    cloud.post(alice, "/networks", {"network": {}})  # not external: no pool

    def pools(h: dict[str, str]) -> list[dict[str, str]]:
        r = cloud.c.get(f"{N}/floatingip_pools", headers=h)
        assert r.status_code == 200, r.text
        return r.json()["floatingip_pools"]  # type: ignore[no-any-return]

    assert pools(alice) == [{"subnet_id": v4["id"], "subnet_name": "pub", "network_id": ext["id"],
                             "cidr": "203.0.113.0/24", "project_id": ext["project_id"],
                             "tenant_id": ext["project_id"]}]  # fmt: skip
    # an external network for chosen projects only
    (wild,) = cloud.c.get(f"{N}/rbac-policies?object_id={ext['id']}", headers=cloud.admin).json()[
        "rbac_policies"]  # fmt: skip
    assert cloud.c.delete(f"{N}/rbac-policies/{wild['id']}", headers=cloud.admin).status_code == 204
    cloud.post(cloud.admin, "/rbac-policies", {"rbac_policy": {
        "object_type": "network", "object_id": ext["id"], "action": "access_as_external",
        "target_tenant": cloud.projects["alice"]}})  # fmt: skip
    assert [p["subnet_id"] for p in pools(alice)] == [v4["id"]]
    assert pools(bob) == []
    r = cloud.c.get(f"{N}/floatingip_pools?fields=cidr", headers=alice)
    assert r.json() == {"floatingip_pools": [{"cidr": "203.0.113.0/24"}]}
    # Neutron's own path (dashed) answers the same
    r = cloud.c.get(f"{N}/floatingip-pools?fields=cidr", headers=alice)
    assert r.json() == {"floatingip_pools": [{"cidr": "203.0.113.0/24"}]}
