"""Address scopes: CRUD, sharing, subnet pools bound to them (unique
prefixes in a scope), and the scope networks show and agents receive."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from kumo.db.outbox_models import OutboxEvent
from tests.network.conftest import Cloud, N


def _put(cloud: Cloud, h: dict[str, str], path: str, body: Any, status: int = 200) -> Any:
    r = cloud.c.put(f"{N}{path}", headers=h, json=body)
    assert r.status_code == status, r.text
    return r.json()


def _scope(cloud: Cloud, h: dict[str, str], status: int = 201, **attrs: Any) -> Any:
    body = {"name": "s", "ip_version": 4, **attrs}
    out = cloud.post(h, "/address-scopes", {"address_scope": body}, status)
    return out["address_scope"] if status == 201 else out["NeutronError"]


def test_crud_and_sharing(cloud: Cloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    scope = _scope(cloud, alice)
    assert set(scope) == {"id", "name", "description", "project_id", "tenant_id", "ip_version",
                          "shared"}  # fmt: skip
    assert scope["shared"] is False and scope["ip_version"] == 4
    assert _scope(cloud, alice, 400, ip_version=5)["type"] == "InvalidInput"
    cloud.post(alice, "/address-scopes", {"address_scope": {"name": "x"}}, 400)
    assert _scope(cloud, alice, 403, shared=True)["type"] == "PolicyNotAuthorized"
    path = f"/address-scopes/{scope['id']}"
    assert _put(cloud, alice, path, {"address_scope": {"name": "s2"}})["address_scope"][
        "name"] == "s2"  # fmt: skip
    _put(cloud, alice, path, {"address_scope": {"ip_version": 6}}, 400)
    assert cloud.c.get(f"{N}{path}", headers=bob).status_code == 404
    assert cloud.c.get(f"{N}/address-scopes", headers=bob).json()["address_scopes"] == []
    # shared with bob by RBAC: bob sees it and binds his pool to it
    cloud.post(alice, "/rbac-policies", {"rbac_policy": {
        "object_type": "address_scope", "object_id": scope["id"], "action": "access_as_shared",
        "target_tenant": cloud.projects["bob"]}})  # fmt: skip
    assert cloud.c.get(f"{N}{path}", headers=bob).json()["address_scope"]["shared"] is True
    pool = cloud.post(bob, "/subnetpools", {"subnetpool": {"name": "b", "prefixes": [
        "10.1.0.0/16"], "address_scope_id": scope["id"]}})["subnetpool"]  # fmt: skip
    assert pool["address_scope_id"] == scope["id"]
    _put(cloud, bob, path, {"address_scope": {"name": "mine"}}, 403)
    # in use by a pool: no delete
    r = cloud.c.delete(f"{N}{path}", headers=alice)
    assert r.status_code == 409 and r.json()["NeutronError"]["type"] == "AddressScopeInUse"
    # bob's pool in alice's scope is read-only to bob: no rename, no unbinding, no
    # new prefixes (400, as Neutron); an admin unbinds it
    pool_path = f"/subnetpools/{pool['id']}"
    for body in (
        {"name": "b2"},
        {"address_scope_id": None},
        {"prefixes": ["10.1.0.0/16", "10.2.0.0/16"]},
    ):
        err = _put(cloud, bob, pool_path, {"subnetpool": body}, 400)
        assert err["NeutronError"]["type"] == "IllegalSubnetPoolUpdate"
    err = _put(cloud, bob, f"{pool_path}/add_prefixes", {"prefixes": ["10.2.0.0/16"]}, 400)
    assert err["NeutronError"]["type"] == "IllegalSubnetPoolUpdate"
    assert cloud.c.get(f"{N}{pool_path}", headers=bob).json()["subnetpool"]["name"] == "b"
    _put(cloud, cloud.admin, pool_path, {"subnetpool": {"address_scope_id": None}})
    _put(cloud, bob, pool_path, {"subnetpool": {"name": "b2"}})  # unbound: his again
    assert cloud.c.delete(f"{N}{path}", headers=alice).status_code == 204
    # naming shared in an update takes the admin rule, even to keep a scope unshared
    mine = _scope(cloud, alice)
    err = _put(cloud, alice, f"/address-scopes/{mine['id']}",
               {"address_scope": {"name": "m", "shared": False}}, 403)  # fmt: skip
    assert err["NeutronError"]["type"] == "PolicyNotAuthorized"
    assert cloud.c.get(f"{N}/address-scopes/{mine['id']}", headers=alice).json()[
        "address_scope"]["name"] == "s"  # fmt: skip
    # admins share with everyone; a shared scope is not unshared
    shared = _scope(cloud, cloud.admin, shared=True)
    assert cloud.c.get(f"{N}/address-scopes/{shared['id']}", headers=bob).status_code == 200
    err = _put(cloud, cloud.admin, f"/address-scopes/{shared['id']}",
               {"address_scope": {"shared": False}}, 400)  # fmt: skip
    assert err["NeutronError"]["type"] == "AddressScopeUpdateError"


def test_pools_in_a_scope_and_networks(cloud: Cloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    scope = _scope(cloud, alice)
    mk = {"name": "p", "address_scope_id": scope["id"]}
    p1 = cloud.post(alice, "/subnetpools", {"subnetpool": {**mk, "prefixes": ["10.5.0.0/16"],
                                                           "default_prefixlen": 24}})  # fmt: skip
    err = cloud.post(alice, "/subnetpools", {"subnetpool": {**mk, "prefixes": ["10.5.7.0/24"]}},
                     409)  # fmt: skip
    assert err["NeutronError"]["type"] == "AddressScopePrefixConflict"
    err = cloud.post(alice, "/subnetpools", {"subnetpool": {**mk, "prefixes": ["2001:db8::/48"]}},
                     400)  # fmt: skip
    assert err["NeutronError"]["type"] == "IllegalSubnetPoolIpVersionAssociationToAddressScope"
    # another project's scope, not shared with it: not found
    cloud.post(bob, "/subnetpools", {"subnetpool": {**mk, "prefixes": ["10.6.0.0/16"]}}, 404)
    # a network shows the scope of its subnets' pool, and its event carries it
    net = cloud.post(alice, "/networks", {"network": {"name": "n"}})["network"]
    assert net["ipv4_address_scope"] is None
    cloud.post(alice, "/subnets", {"subnet": {"network_id": net["id"], "ip_version": 4,
                                              "subnetpool_id": p1["subnetpool"]["id"]}})  # fmt: skip
    shown = cloud.c.get(f"{N}/networks/{net['id']}", headers=alice).json()["network"]
    assert shown["ipv4_address_scope"] == scope["id"] and shown["ipv6_address_scope"] is None
    listed = cloud.c.get(f"{N}/networks?id={net['id']}", headers=alice).json()["networks"]
    assert listed[0]["ipv4_address_scope"] == scope["id"]
    with cloud.rt.db.read_session() as s:
        q = select(OutboxEvent).where(OutboxEvent.kind == "network", OutboxEvent.object_id
                                      == net["id"]).order_by(OutboxEvent.revision.desc())  # fmt: skip
        assert s.scalars(q).first().body["ipv4_address_scope"] == scope["id"]  # type: ignore[union-attr]
    # unbinding the pool takes the network out of the scope (and tells the agents)
    _put(cloud, alice, f"/subnetpools/{p1['subnetpool']['id']}",
         {"subnetpool": {"address_scope_id": None}})  # fmt: skip
    shown = cloud.c.get(f"{N}/networks/{net['id']}", headers=alice).json()["network"]
    assert shown["ipv4_address_scope"] is None
    with cloud.rt.db.read_session() as s:
        assert s.scalars(q).first().body["ipv4_address_scope"] is None  # type: ignore[union-attr]
