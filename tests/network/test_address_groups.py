"""Address groups: CRUD, adding and removing addresses, and as the remote
end of security-group rules (the rules' events carry the addresses)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from kumo.db.outbox_models import OutboxEvent
from tests.network.conftest import Cloud, N


def _put(cloud: Cloud, h: dict[str, str], path: str, body: Any, status: int = 200) -> Any:
    r = cloud.c.put(f"{N}{path}", headers=h, json=body)
    assert r.status_code == status, r.text
    return r.json()


def test_crud_and_address_changes(cloud: Cloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    ag = cloud.post(alice, "/address-groups", {"address_group": {
        "name": "ag", "description": "d", "addresses": ["10.0.0.1/32", "10.1.0.0/16"]}})[
        "address_group"]  # fmt: skip
    assert ag["addresses"] == ["10.0.0.1/32", "10.1.0.0/16"]
    assert ag["project_id"] == cloud.projects["alice"]
    assert set(ag) == {"id", "name", "description", "project_id", "tenant_id", "addresses"}
    path = f"/address-groups/{ag['id']}"
    out = _put(cloud, alice, path + "/add_addresses",
               {"addresses": ["2001:db8::/64", "10.2.0.5/32"]})  # fmt: skip
    assert out["address_group"]["addresses"] == [
        "10.0.0.1/32", "10.1.0.0/16", "10.2.0.5/32", "2001:db8::/64"]  # fmt: skip
    err = _put(cloud, alice, path + "/add_addresses",
               {"address_group": {"addresses": ["10.0.0.1/32"]}}, 400)  # fmt: skip
    assert err["NeutronError"]["type"] == "AddressesAlreadyExist"
    err = _put(cloud, alice, path + "/remove_addresses",
               {"address_group": {"addresses": ["10.9.9.9/32"]}}, 404)  # fmt: skip
    assert err["NeutronError"]["type"] == "AddressesNotFound"
    out = _put(cloud, alice, path + "/remove_addresses",
               {"address_group": {"addresses": ["10.1.0.0/16"]}})  # fmt: skip
    assert "10.1.0.0/16" not in out["address_group"]["addresses"]
    err = _put(cloud, alice, path + "/add_addresses",
               {"address_group": {"addresses": ["not-an-ip"]}}, 400)  # fmt: skip
    assert err["NeutronError"]["type"] == "InvalidInput"
    # a new group's addresses need their prefix length (as Neutron validates
    # them); the actions take bare addresses
    _put(cloud, alice, path + "/remove_addresses", {"addresses": ["10.3.0.1"]}, 404)
    r = cloud.c.post(f"{N}/address-groups", headers=alice,
                     json={"address_group": {"name": "x", "addresses": ["10.20.30.40"]}})  # fmt: skip
    assert r.status_code == 400
    # updates: name and description only
    assert _put(cloud, alice, path, {"address_group": {"name": "n2"}})["address_group"][
        "name"] == "n2"  # fmt: skip
    _put(cloud, alice, path, {"address_group": {"addresses": []}}, 400)
    # another project neither sees nor changes it
    assert cloud.c.get(f"{N}{path}", headers=bob).status_code == 404
    assert cloud.c.get(f"{N}/address-groups", headers=bob).json()["address_groups"] == []
    _put(cloud, bob, path + "/add_addresses", {"addresses": ["1.2.3.4/32"]}, 404)
    assert cloud.c.delete(f"{N}{path}", headers=bob).status_code == 404
    listed = cloud.c.get(f"{N}/address-groups?name=n2", headers=alice).json()["address_groups"]
    assert [g["id"] for g in listed] == [ag["id"]]
    assert cloud.c.delete(f"{N}{path}", headers=alice).status_code == 204
    assert cloud.c.get(f"{N}{path}", headers=alice).status_code == 404


def test_rules_name_address_groups_and_carry_their_addresses(cloud: Cloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    ag = cloud.post(alice, "/address-groups", {"address_group": {
        "addresses": ["10.5.0.0/24"]}})["address_group"]  # fmt: skip
    sg = cloud.post(alice, "/security-groups", {"security_group": {"name": "web"}})[
        "security_group"]  # fmt: skip
    body = {"security_group_id": sg["id"], "direction": "ingress", "protocol": "tcp",
            "port_range_min": 80, "port_range_max": 80, "remote_address_group_id": ag["id"]}  # fmt: skip
    rule = cloud.post(alice, "/security-group-rules", {"security_group_rule": body})[
        "security_group_rule"]  # fmt: skip
    assert rule["remote_address_group_id"] == ag["id"]
    assert "kumo_remote_addresses" not in rule
    r = cloud.c.post(f"{N}/security-group-rules", headers=alice,
                     json={"security_group_rule": body})  # fmt: skip
    assert r.status_code == 409, r.text
    both = {**body, "port_range_min": 81, "port_range_max": 81, "remote_ip_prefix": "10.0.0.0/8"}
    r = cloud.c.post(f"{N}/security-group-rules", headers=alice,
                     json={"security_group_rule": both})  # fmt: skip
    assert r.status_code == 400, r.text
    # an address group the caller cannot see
    bobs = cloud.post(bob, "/address-groups", {"address_group": {}})["address_group"]
    r = cloud.c.post(f"{N}/security-group-rules", headers=alice, json={"security_group_rule": {
        **body, "port_range_min": 82, "port_range_max": 82,
        "remote_address_group_id": bobs["id"]}})  # fmt: skip
    assert r.status_code == 404 and r.json()["NeutronError"]["type"] == "AddressGroupNotFound"
    filtered = cloud.c.get(f"{N}/security-group-rules?remote_address_group_id={ag['id']}",
                           headers=alice).json()["security_group_rules"]  # fmt: skip
    assert [x["id"] for x in filtered] == [rule["id"]]
    # in use: 409
    r = cloud.c.delete(f"{N}/address-groups/{ag['id']}", headers=alice)
    assert r.status_code == 409 and r.json()["NeutronError"]["type"] == "AddressGroupInUse"
    # changing the addresses re-emits the group with the new addresses for agents
    _put(cloud, alice, f"/address-groups/{ag['id']}/add_addresses",
         {"address_group": {"addresses": ["10.6.0.1/32"]}})  # fmt: skip
    with cloud.rt.db.read_session() as s:
        last = s.scalars(
            select(OutboxEvent).where(OutboxEvent.object_id == sg["id"])
            .order_by(OutboxEvent.revision.desc())).first()  # fmt: skip
        assert last is not None
        carried = [r.get("kumo_remote_addresses") for r in last.body["security_group_rules"]]
    assert ["10.5.0.0/24", "10.6.0.1/32"] in carried
    assert (
        cloud.c.delete(f"{N}/security-group-rules/{rule['id']}", headers=alice).status_code == 204
    )
    assert cloud.c.delete(f"{N}/address-groups/{ag['id']}", headers=alice).status_code == 204
