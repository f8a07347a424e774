"""RBAC policies: sharing a network with one project, or every project, and
an external network with chosen projects only; entries are owned objects."""

from __future__ import annotations

from typing import Any

from tests.network.conftest import Cloud, N


def _rbac(cloud: Cloud, h: dict[str, str], status: int = 201, **body: Any) -> Any:
    r = cloud.c.post(f"{N}/rbac-policies", headers=h, json={"rbac_policy": body})
    assert r.status_code == status, r.text
    return r.json()


def _share(cloud: Cloud, h: dict[str, str], net: str, target: str, **kw: Any) -> dict[str, Any]:
    body = {"object_type": "network", "object_id": net, "action": "access_as_shared"}
    body.update(target_tenant=target, **kw)
    return _rbac(cloud, h, **body)["rbac_policy"]  # type: ignore[no-any-return]


def _net_ids(cloud: Cloud, h: dict[str, str], query: str = "") -> set[str]:
    r = cloud.c.get(f"{N}/networks{query}", headers=h)
    assert r.status_code == 200, r.text
    return {n["id"] for n in r.json()["networks"]}


def _network_with_subnet(cloud: Cloud, h: dict[str, str]) -> tuple[str, str]:
    net = cloud.post(h, "/networks", {"network": {"name": "n1"}})["network"]["id"]
    sub = cloud.post(h, "/subnets", {"subnet": {
        "network_id": net, "cidr": "10.1.0.0/24", "ip_version": 4}})["subnet"]["id"]  # fmt: skip
    return net, sub


def test_share_with_one_project_lets_it_see_and_use_the_network(cloud: Cloud) -> None:
    alice, bob, carol = cloud.member("alice"), cloud.member("bob"), cloud.member("carol")
    net, sub = _network_with_subnet(cloud, alice)
    assert cloud.c.get(f"{N}/networks/{net}", headers=bob).status_code == 404
    cloud.post(bob, "/ports", {"port": {"network_id": net}}, status=404)

    entry = _share(cloud, alice, net, cloud.projects["bob"])
    assert entry["project_id"] == cloud.projects["alice"]
    assert entry["target_tenant"] == cloud.projects["bob"]
    assert set(entry) == {"id", "project_id", "tenant_id", "object_type", "object_id",
                          "action", "target_tenant"}  # fmt: skip

    shown = cloud.c.get(f"{N}/networks/{net}", headers=bob).json()["network"]
    assert shown["shared"] is True  # shared with bob's project
    assert net in _net_ids(cloud, bob, "?shared=True")
    assert cloud.c.get(f"{N}/subnets/{sub}", headers=bob).status_code == 200
    port = cloud.post(bob, "/ports", {"port": {"network_id": net}})["port"]
    assert port["project_id"] == cloud.projects["bob"]
    # not carol, and the owner's own view still says not shared with everyone
    assert net not in _net_ids(cloud, carol)
    assert cloud.c.get(f"{N}/networks/{net}", headers=alice).json()["network"]["shared"] is False
    assert (
        cloud.c.get(f"{N}/networks/{net}", headers=cloud.admin).json()["network"]["shared"] is False
    )


def test_an_entry_in_use_cannot_be_deleted_then_can(cloud: Cloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    net, _ = _network_with_subnet(cloud, alice)
    entry = _share(cloud, alice, net, cloud.projects["bob"])
    port = cloud.post(bob, "/ports", {"port": {"network_id": net}})["port"]
    r = cloud.c.delete(f"{N}/rbac-policies/{entry['id']}", headers=alice)
    assert r.status_code == 409, r.text
    assert r.json()["NeutronError"]["type"] == "RbacPolicyInUse"
    # moving the grant away from bob is taking it away too
    carol = cloud.member("carol")
    r = cloud.c.put(f"{N}/rbac-policies/{entry['id']}", headers=alice,
                    json={"rbac_policy": {"target_tenant": cloud.projects["carol"]}})  # fmt: skip
    assert r.status_code == 409, r.text
    assert cloud.c.delete(f"{N}/ports/{port['id']}", headers=bob).status_code == 204
    r = cloud.c.put(f"{N}/rbac-policies/{entry['id']}", headers=alice,
                    json={"rbac_policy": {"target_tenant": cloud.projects["carol"]}})  # fmt: skip
    assert r.status_code == 200, r.text
    assert net in _net_ids(cloud, carol) and net not in _net_ids(cloud, bob)
    assert cloud.c.delete(f"{N}/rbac-policies/{entry['id']}", headers=alice).status_code == 204
    assert net not in _net_ids(cloud, carol)


def test_entries_are_owned_objects(cloud: Cloud) -> None:
    alice, bob, carol = cloud.member("alice"), cloud.member("bob"), cloud.member("carol")
    net, _ = _network_with_subnet(cloud, alice)
    entry = _share(cloud, alice, net, cloud.projects["bob"])
    _share(cloud, alice, net, cloud.projects["carol"])
    # bob sees the network but not who else it is shared with
    assert cloud.c.get(f"{N}/rbac-policies", headers=bob).json()["rbac_policies"] == []
    assert cloud.c.get(f"{N}/rbac-policies/{entry['id']}", headers=bob).status_code == 404
    assert cloud.c.delete(f"{N}/rbac-policies/{entry['id']}", headers=bob).status_code == 404
    # and cannot share it on: it is not bob's
    err = _rbac(cloud, bob, 400, object_type="network", object_id=net, action="access_as_shared",
                target_tenant=cloud.projects["carol"])  # fmt: skip
    assert err["NeutronError"]["type"] == "InvalidInput"
    # nobody but an admin shares with everyone
    err = _rbac(cloud, alice, 403, object_type="network", object_id=net,
                action="access_as_shared", target_tenant="*")  # fmt: skip
    assert err["NeutronError"]["type"] == "PolicyNotAuthorized"
    # the owner lists its two entries; a duplicate is 409
    mine = cloud.c.get(f"{N}/rbac-policies?object_id={net}", headers=alice).json()
    assert {e["target_tenant"] for e in mine["rbac_policies"]} == {
        cloud.projects["bob"], cloud.projects["carol"]}  # fmt: skip
    dup = _rbac(cloud, alice, 409, object_type="network", object_id=net,
                action="access_as_shared", target_tenant=cloud.projects["bob"])  # fmt: skip
    assert dup["NeutronError"]["type"] == "DuplicateRbacPolicy"
    # a network alice cannot see at all
    other = cloud.post(carol, "/networks", {"network": {}})["network"]["id"]
    err = _rbac(cloud, alice, 404, object_type="network", object_id=other,
                action="access_as_shared", target_tenant=cloud.projects["bob"])  # fmt: skip
    assert err["NeutronError"]["type"] == "NetworkNotFound"


def test_validation(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    net, _ = _network_with_subnet(cloud, alice)
    base = {"object_type": "network", "object_id": net, "action": "access_as_shared",
            "target_tenant": "p"}  # fmt: skip
    for key in ("object_type", "object_id", "action", "target_tenant"):
        body = {k: v for k, v in base.items() if k != key}
        assert _rbac(cloud, alice, 400, **body)["NeutronError"]["type"] == "BadRequest"
    assert _rbac(cloud, alice, 400, **{**base, "object_type": "router"})["NeutronError"][
        "type"] == "InvalidInput"  # fmt: skip
    assert _rbac(cloud, alice, 400, **{**base, "action": "access_as_nothing"})["NeutronError"][
        "type"] == "InvalidInput"  # fmt: skip
    entry = _share(cloud, alice, net, "p")
    r = cloud.c.put(f"{N}/rbac-policies/{entry['id']}", headers=alice,
                    json={"rbac_policy": {"action": "access_as_external"}})  # fmt: skip
    assert r.status_code == 400, r.text


def test_shared_flag_is_the_wildcard_entry(cloud: Cloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    net = cloud.post(cloud.admin, "/networks", {"network": {
        "shared": True, "project_id": cloud.projects["alice"]}})["network"]["id"]  # fmt: skip
    rows = cloud.c.get(f"{N}/rbac-policies?object_id={net}", headers=alice).json()["rbac_policies"]
    assert [(e["action"], e["target_tenant"]) for e in rows] == [("access_as_shared", "*")]
    assert net in _net_ids(cloud, bob)
    cloud.post(cloud.admin, "/subnets", {"subnet": {
        "network_id": net, "cidr": "10.2.0.0/24", "ip_version": 4}})  # fmt: skip
    port = cloud.post(bob, "/ports", {"port": {"network_id": net}})["port"]
    # unsharing while bob uses it: 409; deleting the wildcard entry as well
    r = cloud.c.put(f"{N}/networks/{net}", headers=cloud.admin, json={"network": {"shared": False}})
    assert r.status_code == 409 and r.json()["NeutronError"]["type"] == "InvalidSharedSetting"
    r = cloud.c.delete(f"{N}/rbac-policies/{rows[0]['id']}", headers=alice)
    assert r.status_code == 409 and r.json()["NeutronError"]["type"] == "RbacPolicyInUse"
    # a rule naming bob keeps bob's port legitimate: the wildcard may go
    _share(cloud, alice, net, cloud.projects["bob"])
    r = cloud.c.put(f"{N}/networks/{net}", headers=cloud.admin, json={"network": {"shared": False}})
    assert r.status_code == 200, r.text
    assert r.json()["network"]["shared"] is False
    assert net in _net_ids(cloud, bob)
    assert cloud.c.delete(f"{N}/ports/{port['id']}", headers=bob).status_code == 204
    # a wildcard entry made by an admin sets shared again; deleting the network drops entries
    _share(cloud, cloud.admin, net, "*")
    assert cloud.c.get(f"{N}/networks/{net}", headers=alice).json()["network"]["shared"] is True
    assert cloud.c.delete(f"{N}/networks/{net}", headers=alice).status_code == 204
    assert cloud.c.get(f"{N}/rbac-policies?object_id={net}", headers=cloud.admin).json()[
        "rbac_policies"] == []  # fmt: skip


def test_external_network_for_chosen_projects_only(cloud: Cloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    ext = cloud.post(cloud.admin, "/networks", {"network": {"router:external": True}})["network"]
    cloud.post(cloud.admin, "/subnets", {"subnet": {
        "network_id": ext["id"], "cidr": "203.0.113.0/24", "ip_version": 4}})  # fmt: skip
    rows = cloud.c.get(f"{N}/rbac-policies?object_id={ext['id']}", headers=cloud.admin).json()
    (wild,) = rows["rbac_policies"]
    assert (wild["action"], wild["target_tenant"]) == ("access_as_external", "*")
    assert ext["id"] in _net_ids(cloud, alice)
    assert cloud.c.delete(f"{N}/rbac-policies/{wild['id']}", headers=cloud.admin).status_code == 204
    assert ext["id"] not in _net_ids(cloud, alice)
    _rbac(cloud, cloud.admin, object_type="network", object_id=ext["id"],
          action="access_as_external", target_tenant=cloud.projects["alice"])  # fmt: skip
    assert ext["id"] in _net_ids(cloud, alice) and ext["id"] not in _net_ids(cloud, bob)
    fip = cloud.post(alice, "/floatingips", {"floatingip": {"floating_network_id": ext["id"]}})
    cloud.post(bob, "/floatingips", {"floatingip": {"floating_network_id": ext["id"]}}, 404)
    router = cloud.post(alice, "/routers", {"router": {
        "external_gateway_info": {"network_id": ext["id"]}}})["router"]  # fmt: skip
    assert router["external_gateway_info"]["network_id"] == ext["id"]
    entry = cloud.c.get(f"{N}/rbac-policies?object_id={ext['id']}", headers=cloud.admin).json()[
        "rbac_policies"][0]  # fmt: skip
    r = cloud.c.delete(f"{N}/rbac-policies/{entry['id']}", headers=cloud.admin)
    assert r.status_code == 409 and r.json()["NeutronError"]["type"] == "RbacPolicyInUse"
    assert fip["floatingip"]["floating_network_id"] == ext["id"]


def test_access_as_external_is_for_networks_only_and_external_is_listed(cloud: Cloud) -> None:
    exts = cloud.c.get(f"{N}/extensions", headers=cloud.admin).json()["extensions"]
    assert "rbac-policies" in {e["alias"] for e in exts}


def test_share_a_security_group_with_one_project(cloud: Cloud) -> None:
    alice, bob, carol = cloud.member("alice"), cloud.member("bob"), cloud.member("carol")
    sg = cloud.post(alice, "/security-groups", {"security_group": {"name": "web"}})[
        "security_group"]  # fmt: skip
    net = cloud.post(bob, "/networks", {"network": {}})["network"]["id"]
    cloud.post(bob, "/subnets", {"subnet": {"network_id": net, "cidr": "10.3.0.0/24",
                                            "ip_version": 4}})  # fmt: skip
    assert cloud.c.get(f"{N}/security-groups/{sg['id']}", headers=bob).status_code == 404
    cloud.post(bob, "/ports", {"port": {"network_id": net, "security_groups": [sg["id"]]}}, 404)
    err = _rbac(cloud, alice, 400, object_type="security_group", object_id=sg["id"],
                action="access_as_external", target_tenant=cloud.projects["bob"])  # fmt: skip
    assert err["NeutronError"]["type"] == "InvalidActionForType"
    entry = _rbac(cloud, alice, object_type="security_group", object_id=sg["id"],
                  action="access_as_shared", target_tenant=cloud.projects["bob"])["rbac_policy"]  # fmt: skip
    shown = cloud.c.get(f"{N}/security-groups/{sg['id']}", headers=bob).json()["security_group"]
    assert shown["shared"] is True
    listed = cloud.c.get(f"{N}/security-groups?shared=True", headers=bob).json()
    assert [g["id"] for g in listed["security_groups"]] == [sg["id"]]
    assert sg["id"] not in {g["id"] for g in cloud.c.get(
        f"{N}/security-groups", headers=carol).json()["security_groups"]}  # fmt: skip
    port = cloud.post(bob, "/ports", {"port": {"network_id": net,
                                               "security_groups": [sg["id"]]}})["port"]  # fmt: skip
    assert port["security_groups"] == [sg["id"]]
    # bob uses the group but may not change it, its rules, or share it on
    r = cloud.c.put(f"{N}/security-groups/{sg['id']}", headers=bob,
                    json={"security_group": {"name": "mine"}})  # fmt: skip
    assert r.status_code in (403, 404), r.text
    r = cloud.c.post(f"{N}/security-group-rules", headers=bob, json={"security_group_rule": {
        "security_group_id": sg["id"], "direction": "ingress"}})  # fmt: skip
    assert r.status_code in (403, 404), r.text
    assert cloud.c.delete(f"{N}/security-groups/{sg['id']}", headers=bob).status_code in (403, 404)
    _rbac(cloud, bob, 400, object_type="security_group", object_id=sg["id"],
          action="access_as_shared", target_tenant=cloud.projects["carol"])  # fmt: skip
    # in use by bob's port: the entry stays
    r = cloud.c.delete(f"{N}/rbac-policies/{entry['id']}", headers=alice)
    assert r.status_code == 409 and r.json()["NeutronError"]["type"] == "RbacPolicyInUse"
    assert cloud.c.delete(f"{N}/ports/{port['id']}", headers=bob).status_code == 204
    assert cloud.c.delete(f"{N}/rbac-policies/{entry['id']}", headers=alice).status_code == 204
    assert cloud.c.get(f"{N}/security-groups/{sg['id']}", headers=bob).status_code == 404


def test_share_an_address_group_with_one_project(cloud: Cloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    ag = cloud.post(alice, "/address-groups", {"address_group": {"addresses": ["10.9.0.0/24"]}})[
        "address_group"]  # fmt: skip
    sg = cloud.post(bob, "/security-groups", {"security_group": {"name": "b"}})["security_group"]
    rule = {"security_group_id": sg["id"], "direction": "ingress",
            "remote_address_group_id": ag["id"]}  # fmt: skip
    r = cloud.c.post(f"{N}/security-group-rules", headers=bob, json={"security_group_rule": rule})
    assert r.status_code == 404, r.text
    entry = _rbac(cloud, alice, object_type="address_group", object_id=ag["id"],
                  action="access_as_shared", target_tenant=cloud.projects["bob"])["rbac_policy"]  # fmt: skip
    assert cloud.c.get(f"{N}/address-groups/{ag['id']}", headers=bob).status_code == 200
    assert [g["id"] for g in cloud.c.get(f"{N}/address-groups", headers=bob).json()[
        "address_groups"]] == [ag["id"]]  # fmt: skip
    made = cloud.post(bob, "/security-group-rules", {"security_group_rule": rule})[
        "security_group_rule"]  # fmt: skip
    r = cloud.c.put(f"{N}/address-groups/{ag['id']}/add_addresses", headers=bob,
                    json={"address_group": {"addresses": ["10.10.0.1/32"]}})  # fmt: skip
    assert r.status_code in (403, 404), r.text
    r = cloud.c.delete(f"{N}/rbac-policies/{entry['id']}", headers=alice)
    assert r.status_code == 409 and r.json()["NeutronError"]["type"] == "RbacPolicyInUse"
    assert cloud.c.delete(f"{N}/security-group-rules/{made['id']}", headers=bob).status_code == 204
    assert cloud.c.delete(f"{N}/rbac-policies/{entry['id']}", headers=alice).status_code == 204
    assert cloud.c.get(f"{N}/address-groups/{ag['id']}", headers=bob).status_code == 404


def test_external_entries_make_and_unmake_external_and_the_default_stays_shared(
    cloud: Cloud,
) -> None:
    admin, alice = cloud.admin, cloud.member("alice")
    net = cloud.post(admin, "/networks", {"network": {"name": "n"}})["network"]["id"]
    ext = {"object_type": "network", "object_id": net, "action": "access_as_external"}
    entry = _rbac(cloud, admin, **ext, target_tenant="*")["rbac_policy"]
    other = _rbac(cloud, admin, **ext, target_tenant=cloud.projects["alice"])["rbac_policy"]

    def external() -> bool:
        shown = cloud.c.get(f"{N}/networks/{net}", headers=admin).json()["network"]
        return bool(shown["router:external"])

    assert external()
    assert cloud.c.delete(f"{N}/rbac-policies/{entry['id']}", headers=admin).status_code == 204
    assert external()  # alice's entry still makes it external
    assert cloud.c.delete(f"{N}/rbac-policies/{other['id']}", headers=admin).status_code == 204
    assert not external()
    # the default external network's wildcard entry is neither removed nor narrowed
    r = cloud.c.put(f"{N}/networks/{net}", headers=admin,
                    json={"network": {"router:external": True, "is_default": True}})  # fmt: skip
    assert r.status_code == 200, r.text
    listed = cloud.c.get(f"{N}/rbac-policies?object_id={net}&action=access_as_external",
                         headers=admin).json()["rbac_policies"]  # fmt: skip
    assert [e["target_tenant"] for e in listed] == ["*"]
    wildcard = listed[0]["id"]
    r = cloud.c.delete(f"{N}/rbac-policies/{wildcard}", headers=admin)
    assert r.status_code == 409 and r.json()["NeutronError"]["type"] == "RbacPolicyInUse"
    r = cloud.c.put(f"{N}/rbac-policies/{wildcard}", headers=admin,
                    json={"rbac_policy": {"target_tenant": cloud.projects["alice"]}})  # fmt: skip
    assert r.status_code == 409
    assert external() and alice


def test_rbac_policy_quota(cloud: Cloud) -> None:
    """Entries count against their project's ``rbac_policy`` quota (10 by
    default, as Neutron); one over it is 409 ``OverQuota``."""
    alice, project = cloud.member("alice"), cloud.projects["alice"]
    quota = cloud.c.get(f"{N}/quotas/{project}", headers=alice).json()["quota"]
    assert quota["rbac_policy"] == 10
    r = cloud.c.put(f"{N}/quotas/{project}", headers=cloud.admin,
                    json={"quota": {"rbac_policy": 2}})  # fmt: skip
    assert r.status_code == 200 and r.json()["quota"]["rbac_policy"] == 2
    net = cloud.post(alice, "/networks", {"network": {"name": "n"}})["network"]["id"]
    first = _share(cloud, alice, net, "p1")
    _share(cloud, alice, net, "p2")
    body = {"object_type": "network", "object_id": net, "action": "access_as_shared",
            "target_tenant": "p3"}  # fmt: skip
    assert _rbac(cloud, alice, 409, **body)["NeutronError"]["type"] == "OverQuota"
    details = cloud.c.get(f"{N}/quotas/{project}/details", headers=alice).json()["quota"]
    assert details["rbac_policy"]["used"] == 2 and details["rbac_policy"]["limit"] == 2
    # deleting one makes room again
    assert cloud.c.delete(f"{N}/rbac-policies/{first['id']}", headers=alice).status_code == 204
    _rbac(cloud, alice, **body)


def test_an_external_grant_a_gateway_uses_goes_once_another_entry_covers_it(cloud: Cloud) -> None:
    """A router gateway holds the external grant of its router's project (its
    port has no project of its own): the wildcard goes once the project has
    an entry of its own, and that entry only with the wildcard back."""
    alice = cloud.member("alice")
    net = cloud.post(cloud.admin, "/networks", {"network": {}})["network"]["id"]
    cloud.post(cloud.admin, "/subnets", {"subnet": {
        "network_id": net, "cidr": "203.0.113.0/24", "ip_version": 4}})  # fmt: skip
    ext = dict(object_type="network", object_id=net, action="access_as_external")
    wild = _rbac(cloud, cloud.admin, **ext, target_tenant="*")["rbac_policy"]
    router = cloud.post(alice, "/routers", {"router": {
        "external_gateway_info": {"network_id": net}}})["router"]  # fmt: skip

    def delete(entry: dict[str, Any]) -> int:
        return cloud.c.delete(f"{N}/rbac-policies/{entry['id']}", headers=cloud.admin).status_code

    assert delete(wild) == 409
    own = _rbac(cloud, cloud.admin, **ext, target_tenant=cloud.projects["alice"])["rbac_policy"]
    assert delete(wild) == 204
    assert delete(own) == 409
    _rbac(cloud, cloud.admin, **ext, target_tenant="*")
    assert delete(own) == 204
    assert cloud.c.delete(f"{N}/routers/{router['id']}", headers=alice).status_code == 204


def test_an_external_wildcard_narrowed_to_the_one_project_using_it(cloud: Cloud) -> None:
    """Changing the wildcard to the project whose router uses the network
    keeps its access: allowed; to another project: refused."""
    alice, bob = cloud.member("alice"), cloud.member("bob")
    net = cloud.post(cloud.admin, "/networks", {"network": {"router:external": True}})["network"]
    rows = cloud.c.get(f"{N}/rbac-policies?object_id={net['id']}", headers=cloud.admin).json()
    (wild,) = rows["rbac_policies"]
    cloud.post(alice, "/routers", {"router": {"external_gateway_info": {"network_id": net["id"]}}})
    url = f"{N}/rbac-policies/{wild['id']}"
    to_bob = {"rbac_policy": {"target_tenant": cloud.projects["bob"]}}
    r = cloud.c.put(url, headers=cloud.admin, json=to_bob)
    assert r.status_code == 409 and r.json()["NeutronError"]["type"] == "RbacPolicyInUse"
    to_alice = {"rbac_policy": {"target_tenant": cloud.projects["alice"]}}
    r = cloud.c.put(url, headers=cloud.admin, json=to_alice)
    assert r.status_code == 200, r.text
    assert net["id"] in _net_ids(cloud, alice) and net["id"] not in _net_ids(cloud, bob)
