"""Subnet pools: CRUD and validation, subnets allocated from them (by CIDR,
by prefix length, from the default pool), prefix operations, onboarding,
per-project quotas, sharing through RBAC, and concurrent allocations."""

from __future__ import annotations

import ipaddress
import threading
from pathlib import Path
from typing import Any

from kumo.config import Settings
from kumo.context import RequestContext
from kumo.errors import KumoError
from kumo.runtime import Runtime
from tests.network.conftest import Cloud, N


def _put(cloud: Cloud, h: dict[str, str], path: str, body: Any, status: int = 200) -> Any:
    r = cloud.c.put(f"{N}{path}", headers=h, json=body)
    assert r.status_code == status, r.text
    return r.json()


def _pool(cloud: Cloud, h: dict[str, str], status: int = 201, **attrs: Any) -> Any:
    body = {"name": "p", "prefixes": ["10.10.0.0/16"], **attrs}
    out = cloud.post(h, "/subnetpools", {"subnetpool": body}, status)
    return out["subnetpool"] if status == 201 else out["NeutronError"]


def _net(cloud: Cloud, h: dict[str, str]) -> str:
    ident: str = cloud.post(h, "/networks", {"network": {"name": "n"}})["network"]["id"]
    return ident


def _subnet(cloud: Cloud, h: dict[str, str], status: int = 201, **attrs: Any) -> Any:
    out = cloud.post(h, "/subnets", {"subnet": {"ip_version": 4, **attrs}}, status)
    return out["subnet"] if status == 201 else out["NeutronError"]


def test_crud_defaults_and_validation(cloud: Cloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    pool = _pool(cloud, alice, prefixes=["10.10.0.0/17", "10.10.128.0/17", "10.10.5.7/24"],
                 description="d")  # fmt: skip
    assert pool["prefixes"] == ["10.10.0.0/16"]  # merged, normalised
    # prefix lengths shown as strings, as Neutron shows them
    assert (pool["ip_version"], pool["min_prefixlen"], pool["max_prefixlen"]) == (4, "8", "32")
    assert pool["default_prefixlen"] == "8"
    assert pool["default_quota"] is None and pool["address_scope_id"] is None
    assert pool["is_default"] is False and pool["shared"] is False
    assert pool["project_id"] == cloud.projects["alice"] and pool["revision_number"] == 0
    v6 = _pool(cloud, alice, prefixes=["2001:db8::/48"], default_prefixlen=64)
    assert (v6["ip_version"], v6["min_prefixlen"], v6["max_prefixlen"]) == (6, "64", "128")
    # validation
    assert _pool(cloud, alice, 400, prefixes=["10.0.0.0/8", "2001:db8::/32"])["type"] == (
        "PrefixVersionMismatch"
    )
    err = _pool(cloud, alice, 400, min_prefixlen=24, default_prefixlen=20)
    assert err["type"] == "IllegalSubnetPoolPrefixBounds"
    assert _pool(cloud, alice, 400, max_prefixlen=33)["type"] == "IllegalSubnetPoolPrefixBounds"
    assert _pool(cloud, alice, 400, prefixes=["not-a-cidr"])["type"] == "InvalidInput"
    cloud.post(alice, "/subnetpools", {"subnetpool": {"prefixes": ["10.0.0.0/8"]}}, 400)
    assert _pool(cloud, alice, 403, shared=True)["type"] == "PolicyNotAuthorized"
    assert _pool(cloud, alice, 403, is_default=True)["type"] == "PolicyNotAuthorized"
    # update: prefixes only grow; bounds checked; shared and ip_version read-only
    path = f"/subnetpools/{pool['id']}"
    out = _put(cloud, alice, path, {"subnetpool": {"name": "p2", "prefixes": [
        "10.10.0.0/16", "10.11.0.0/16"], "min_prefixlen": 16, "default_prefixlen": 24}})  # fmt: skip
    assert out["subnetpool"]["prefixes"] == ["10.10.0.0/15"]
    assert (
        out["subnetpool"]["default_prefixlen"] == "24" and out["subnetpool"]["revision_number"] == 1
    )
    err = _put(cloud, alice, path, {"subnetpool": {"prefixes": ["10.10.0.0/16"]}}, 400)
    assert err["NeutronError"]["type"] == "IllegalSubnetPoolPrefixUpdate"
    _put(cloud, alice, path, {"subnetpool": {"shared": True}}, 400)
    _put(cloud, alice, path, {"subnetpool": {"max_prefixlen": 12}}, 400)
    # others see nothing
    assert cloud.c.get(f"{N}{path}", headers=bob).status_code == 404
    assert cloud.c.get(f"{N}/subnetpools", headers=bob).json()["subnetpools"] == []
    assert (
        cloud.c.put(f"{N}{path}", headers=bob, json={"subnetpool": {"name": "x"}}).status_code
        == 404
    )
    listed = cloud.c.get(f"{N}/subnetpools?ip_version=6", headers=alice).json()["subnetpools"]
    assert [p["id"] for p in listed] == [v6["id"]]
    listed = cloud.c.get(f"{N}/subnetpools?min_prefixlen=64", headers=alice).json()["subnetpools"]
    assert [p["id"] for p in listed] == [v6["id"]]
    # tags (standard-attr-tag)
    assert cloud.c.put(f"{N}{path}/tags/blue", headers=alice).status_code == 201
    assert cloud.c.get(f"{N}{path}", headers=alice).json()["subnetpool"]["tags"] == ["blue"]
    assert cloud.c.delete(f"{N}{path}", headers=alice).status_code == 204
    assert cloud.c.get(f"{N}{path}", headers=alice).status_code == 404
    # the subnetpool quota
    quota = cloud.c.get(f"{N}/quotas/{cloud.projects['alice']}", headers=cloud.admin).json()
    assert quota["quota"]["subnetpool"] == -1


def test_subnets_from_a_pool(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    pool = _pool(cloud, alice, prefixes=["10.20.0.0/24"], min_prefixlen=24, max_prefixlen=28,
                 default_prefixlen=26)  # fmt: skip
    net = _net(cloud, alice)
    first = _subnet(cloud, alice, network_id=net, subnetpool_id=pool["id"], prefixlen=26)
    assert first["cidr"] == "10.20.0.0/26" and first["subnetpool_id"] == pool["id"]
    assert first["gateway_ip"] == "10.20.0.1"
    assert first["allocation_pools"] == [{"start": "10.20.0.2", "end": "10.20.0.62"}]
    # default length, a chosen CIDR, best fit (the /28 goes into the smallest gap)
    net2 = _net(cloud, alice)
    assert _subnet(cloud, alice, network_id=net2, subnetpool_id=pool["id"])["cidr"] == (
        "10.20.0.64/26"
    )
    net3 = _net(cloud, alice)
    assert _subnet(cloud, alice, network_id=net3, subnetpool_id=pool["id"],
                   cidr="10.20.0.192/27")["cidr"] == "10.20.0.192/27"  # fmt: skip
    net4 = _net(cloud, alice)
    assert _subnet(cloud, alice, network_id=net4, subnetpool_id=pool["id"],
                   prefixlen=28)["cidr"] == "10.20.0.224/28"  # fmt: skip
    # taken, outside, out of bounds, exhausted
    net5 = _net(cloud, alice)
    for cidr in ("10.20.0.0/27", "10.30.0.0/26"):
        err = _subnet(cloud, alice, 409, network_id=net5, subnetpool_id=pool["id"], cidr=cidr)
        assert err["type"] == "SubnetAllocationError"
    err = _subnet(cloud, alice, 400, network_id=net5, subnetpool_id=pool["id"], prefixlen=29)
    assert err["type"] == "MaxPrefixSubnetAllocationError"
    err = _subnet(cloud, alice, 400, network_id=net5, subnetpool_id=pool["id"], prefixlen=23)
    assert err["type"] == "MinPrefixSubnetAllocationError"
    assert _subnet(cloud, alice, network_id=net5, subnetpool_id=pool["id"],
                   prefixlen=26)["cidr"] == "10.20.0.128/26"  # fmt: skip
    net6 = _net(cloud, alice)
    err = _subnet(cloud, alice, 409, network_id=net6, subnetpool_id=pool["id"], prefixlen=26)
    assert err["type"] == "SubnetAllocationError"
    # one network, one pool per IP version
    err = _subnet(cloud, alice, 400, network_id=net, cidr="192.168.7.0/24")
    assert err["type"] == "NetworkSubnetPoolAffinityError"
    # in use: no delete, no removing its prefix; freed when the subnet goes
    err = cloud.c.delete(f"{N}/subnetpools/{pool['id']}", headers=alice).json()
    assert err["NeutronError"]["type"] == "SubnetPoolInUse"
    err = _put(cloud, alice, f"/subnetpools/{pool['id']}/remove_prefixes",
               {"prefixes": ["10.20.0.0/24"]}, 400)  # fmt: skip
    assert err["NeutronError"]["type"] == "IllegalSubnetPoolPrefixUpdate"
    assert cloud.c.delete(f"{N}/subnets/{first['id']}", headers=alice).status_code == 204
    assert _subnet(cloud, alice, network_id=net6, subnetpool_id=pool["id"])["cidr"] == (
        "10.20.0.0/26"
    )


def test_default_pools_prefix_ops_and_onboarding(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    net = _net(cloud, alice)
    err = _subnet(cloud, alice, 400, network_id=net, use_default_subnetpool=True)
    assert "No default subnetpool found for IPv4" in err["message"]
    default = _pool(cloud, cloud.admin, prefixes=["10.40.0.0/16"], is_default=True, shared=True,
                    default_prefixlen=24)  # fmt: skip
    assert default["is_default"] and default["shared"]
    err = _pool(cloud, cloud.admin, 400, prefixes=["10.41.0.0/16"], is_default=True)
    assert "Only one default" in err["message"]
    sub = _subnet(cloud, alice, network_id=net, use_default_subnetpool=True)
    assert sub["cidr"] == "10.40.0.0/24" and sub["subnetpool_id"] == default["id"]
    # add_prefixes / remove_prefixes answer the pool's prefixes
    mine = _pool(cloud, alice, prefixes=["10.50.0.0/24"])
    path = f"/subnetpools/{mine['id']}"
    out = _put(cloud, alice, path + "/add_prefixes", {"prefixes": ["10.50.1.0/24", "10.60.0.0/16"]})
    assert out == {"prefixes": ["10.50.0.0/23", "10.60.0.0/16"]}
    out = _put(cloud, alice, path + "/remove_prefixes", {"prefixes": ["10.50.1.0/24"]})
    assert out == {"prefixes": ["10.50.0.0/24", "10.60.0.0/16"]}
    err = _put(cloud, alice, path + "/add_prefixes", {"prefixes": ["2001:db8::/64"]}, 400)
    assert err["NeutronError"]["type"] == "PrefixVersionMismatch"
    bob = cloud.member("bob")
    _put(cloud, bob, path + "/add_prefixes", {"prefixes": ["10.70.0.0/16"]}, 404)
    # onboarding: a network's pool-less subnets join the pool, prefixes and all
    plain = _net(cloud, alice)
    old = _subnet(cloud, alice, network_id=plain, cidr="172.16.5.0/24")
    out = _put(cloud, alice, path + "/onboard_network_subnets", {"network_id": plain})
    assert out == {"network_id": plain, "subnetpool_id": mine["id"]}
    shown = cloud.c.get(f"{N}/subnets/{old['id']}", headers=alice).json()["subnet"]
    assert shown["subnetpool_id"] == mine["id"]
    got = cloud.c.get(f"{N}{path}", headers=alice).json()["subnetpool"]
    assert "172.16.5.0/24" in got["prefixes"]


def test_project_quota_in_a_pool(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    pool = _pool(cloud, alice, prefixes=["10.80.0.0/16"], default_prefixlen=26, default_quota=128)
    _subnet(cloud, alice, network_id=_net(cloud, alice), subnetpool_id=pool["id"])
    _subnet(cloud, alice, network_id=_net(cloud, alice), subnetpool_id=pool["id"])
    err = _subnet(cloud, alice, 409, network_id=_net(cloud, alice), subnetpool_id=pool["id"])
    assert err["type"] == "SubnetPoolQuotaExceeded"


def test_sharing_a_pool(cloud: Cloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    pool = _pool(cloud, alice, prefixes=["10.90.0.0/16"], default_prefixlen=24)
    bob_net = _net(cloud, bob)
    _subnet(cloud, bob, 404, network_id=bob_net, subnetpool_id=pool["id"])
    entry = cloud.post(alice, "/rbac-policies", {"rbac_policy": {
        "object_type": "subnetpool", "object_id": pool["id"], "action": "access_as_shared",
        "target_tenant": cloud.projects["bob"]}})["rbac_policy"]  # fmt: skip
    seen = cloud.c.get(f"{N}/subnetpools/{pool['id']}", headers=bob).json()["subnetpool"]
    assert seen["shared"] is True
    sub = _subnet(cloud, bob, network_id=bob_net, subnetpool_id=pool["id"])
    assert sub["cidr"] == "10.90.0.0/24" and sub["project_id"] == cloud.projects["bob"]
    # shared with, not owned by: no changes
    _put(cloud, bob, f"/subnetpools/{pool['id']}", {"subnetpool": {"name": "x"}}, 403)
    r = cloud.c.delete(f"{N}/rbac-policies/{entry['id']}", headers=alice)
    assert r.status_code == 409 and r.json()["NeutronError"]["type"] == "RbacPolicyInUse"
    assert cloud.c.delete(f"{N}/subnets/{sub['id']}", headers=bob).status_code == 204
    assert cloud.c.delete(f"{N}/rbac-policies/{entry['id']}", headers=alice).status_code == 204
    assert cloud.c.get(f"{N}/subnetpools/{pool['id']}", headers=bob).status_code == 404
    # the wildcard entry is ``shared``
    cloud.post(cloud.admin, "/rbac-policies", {"rbac_policy": {
        "object_type": "subnetpool", "object_id": pool["id"], "action": "access_as_shared",
        "target_tenant": "*"}})  # fmt: skip
    assert cloud.c.get(f"{N}/subnetpools/{pool['id']}", headers=alice).json()["subnetpool"][
        "shared"] is True  # fmt: skip


def test_a_pool_in_a_scope_is_shared_only_with_projects_that_reach_the_scope(
    cloud: Cloud,
) -> None:
    alice, bob, carol = cloud.member("alice"), cloud.member("bob"), cloud.member("carol")
    scope = cloud.post(cloud.admin, "/address-scopes", {"address_scope": {
        "name": "s", "ip_version": 4}})["address_scope"]  # fmt: skip

    def share(h: dict[str, str], object_type: str, object_id: str, target: str,
              status: int = 201) -> Any:  # fmt: skip
        return cloud.post(h, "/rbac-policies", {"rbac_policy": {
            "object_type": object_type, "object_id": object_id, "action": "access_as_shared",
            "target_tenant": target}}, status)  # fmt: skip

    share(cloud.admin, "address_scope", scope["id"], cloud.projects["alice"])
    pool = _pool(cloud, alice, prefixes=["10.91.0.0/16"], address_scope_id=scope["id"])
    # bob cannot use the scope: alice (nor an admin) shares the pool with him
    for h in (alice, cloud.admin):
        err = share(h, "subnetpool", pool["id"], cloud.projects["bob"], 400)["NeutronError"]
        assert err["type"] == "RbacPolicyInitError"
    assert share(alice, "subnetpool", pool["id"], "*", 403)["NeutronError"]["type"] == (
        "PolicyNotAuthorized"
    )
    assert share(cloud.admin, "subnetpool", pool["id"], "*", 400)["NeutronError"]["type"] == (
        "RbacPolicyInitError"
    )
    assert cloud.c.get(f"{N}/rbac-policies", headers=alice).json()["rbac_policies"] == []
    # the scope shared with bob too: the pool follows; moving the entry to
    # carol, who cannot use the scope, is refused
    share(cloud.admin, "address_scope", scope["id"], cloud.projects["bob"])
    entry = share(alice, "subnetpool", pool["id"], cloud.projects["bob"])["rbac_policy"]
    r = cloud.c.put(f"{N}/rbac-policies/{entry['id']}", headers=alice,
                    json={"rbac_policy": {"target_tenant": cloud.projects["carol"]}})  # fmt: skip
    assert r.status_code == 400 and r.json()["NeutronError"]["type"] == "RbacPolicyInitError"
    assert cloud.c.get(f"{N}/subnetpools/{pool['id']}", headers=bob).status_code == 200
    assert cloud.c.get(f"{N}/subnetpools/{pool['id']}", headers=carol).status_code == 404


ADMIN = RequestContext(
    user_id="u-admin", project_id="p-admin", roles=frozenset({"admin", "member"})
)


def test_concurrent_allocations_never_overlap(db_url: str, tmp_path: Path) -> None:
    rt = Runtime.open(Settings(state_dir=tmp_path / "state", database_url=db_url))
    try:
        svc = rt.network
        made = svc.create_networks(ADMIN, [{"name": f"n{i}"} for i in range(12)])
        from kumo.network.subnetpools import service as pools

        pool = pools.create_pools(svc, ADMIN, [{"name": "p", "prefixes": ["10.99.0.0/24"],
                                                "default_prefixlen": 28}])[0]  # fmt: skip
        got: list[str] = []
        errors: list[BaseException] = []
        barrier = threading.Barrier(len(made))

        def create(net_id: str) -> None:
            barrier.wait()
            try:
                body = {"network_id": net_id, "ip_version": 4, "subnetpool_id": pool["id"]}
                got.append(svc.create_subnets(ADMIN, [body])[0]["cidr"])
            except KumoError as exc:
                errors.append(exc)

        threads = [threading.Thread(target=create, args=(n["id"],)) for n in made]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors and len(got) == 12
        nets = [ipaddress.ip_network(c) for c in got]
        assert all(n.prefixlen == 28 and n.subnet_of(ipaddress.ip_network("10.99.0.0/24"))
                   for n in nets)  # fmt: skip
        assert not [(a, b) for i, a in enumerate(nets) for b in nets[i + 1 :] if a.overlaps(b)]
    finally:
        rt.close()
