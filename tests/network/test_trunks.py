"""Trunks over HTTP: CRUD, subports, Neutron's checks and errors, the
binding of subports to the parent's host and the events agents see."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from kumo.db.outbox_models import OutboxEvent
from tests.network.conftest import Cloud, N


def _req(cloud: Cloud, method: str, h: dict[str, str], path: str, body: Any = None,
         status: int = 200) -> Any:  # fmt: skip
    r = cloud.c.request(method, f"{N}{path}", headers=h, json=body)
    assert r.status_code == status, r.text
    return r.json() if r.content else None


def _net(cloud: Cloud, h: dict[str, str], cidr: str, mtu: int | None = None) -> str:
    body: dict[str, Any] = {"name": cidr}
    if mtu is not None:
        body["mtu"] = mtu
    net = cloud.post(h, "/networks", {"network": body})["network"]["id"]
    cloud.post(h, "/subnets", {"subnet": {"network_id": net, "cidr": cidr, "ip_version": 4}})
    return str(net)


def _port(cloud: Cloud, h: dict[str, str], net: str, **extra: Any) -> dict[str, Any]:
    port: dict[str, Any] = cloud.post(h, "/ports", {"port": {"network_id": net, **extra}})["port"]
    return port


def _err(cloud: Cloud, method: str, h: dict[str, str], path: str, body: Any, status: int) -> str:
    return str(_req(cloud, method, h, path, body, status=status)["NeutronError"]["type"])


def _sub(port_id: str, vid: Any = 100, kind: str = "vlan") -> dict[str, Any]:
    return {"port_id": port_id, "segmentation_type": kind, "segmentation_id": vid}


def test_crud_subports_and_errors(cloud: Cloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    net_a, net_b = _net(cloud, alice, "10.1.0.0/24"), _net(cloud, alice, "10.2.0.0/24")
    parent = _port(cloud, alice, net_a)
    s1, s2 = _port(cloud, alice, net_b), _port(cloud, alice, net_b)
    t = cloud.post(alice, "/trunks", {"trunk": {"port_id": parent["id"], "name": "t",
                   "sub_ports": [_sub(s1["id"], "100")]}})["trunk"]  # fmt: skip
    assert t["sub_ports"] == [_sub(s1["id"], 100)]
    assert t["status"] == "DOWN" and t["admin_state_up"] is True
    assert {
        "tags",
        "created_at",
        "updated_at",
        "project_id",
        "description",
        "revision_number",
    } <= set(t)
    port = _req(cloud, "GET", alice, f"/ports/{s1['id']}")["port"]
    assert port["device_owner"] == "trunk:subport" and port["device_id"] == t["id"]
    base = f"/trunks/{t['id']}"
    # the parent or a subport in a trunk again: 409
    assert _err(cloud, "POST", alice, "/trunks", {"trunk": {"port_id": parent["id"]}},
                409) == "ParentPortInUse"  # fmt: skip
    assert _err(cloud, "POST", alice, "/trunks", {"trunk": {"port_id": s1["id"]}},
                409) == "TrunkPortInUse"  # fmt: skip
    assert _err(cloud, "PUT", alice, base + "/add_subports",
                {"sub_ports": [_sub(parent["id"], 2)]}, 409) == "ParentPortInUse"  # fmt: skip
    # the same VLAN twice on the trunk: 409; twice in one request: 400
    assert _err(cloud, "PUT", alice, base + "/add_subports",
                {"sub_ports": [_sub(s2["id"], 100)]}, 409) == "DuplicateSubPort"  # fmt: skip
    _req(cloud, "POST", alice, "/trunks", {"trunk": {"port_id": s2["id"], "sub_ports": [
        _sub(parent["id"], 5), _sub(s1["id"], 5)]}}, status=400)  # fmt: skip
    for bad in ({"port_id": s2["id"], "segmentation_type": "vlan"}, _sub(s2["id"], 4095),
                _sub(s2["id"], -1, "inherit"), _sub(s2["id"], "x"), {"segmentation_id": 3,
                "segmentation_type": "vlan"}):  # fmt: skip
        _req(cloud, "PUT", alice, base + "/add_subports", {"sub_ports": [bad]}, status=400)
    _req(cloud, "PUT", alice, base + "/add_subports", {"sub_ports": _sub(s2["id"], 7)},
         status=400)  # fmt: skip
    missing = "6b1b8a4e-9e55-4e7b-8b56-1b2f3c4d5e6f"
    _req(cloud, "PUT", alice, base + "/add_subports", {"sub_ports": [_sub(missing, 7)]},
         status=404)  # fmt: skip
    _req(cloud, "PUT", alice, f"/trunks/{missing}/add_subports", {"sub_ports": []}, status=404)
    assert _err(cloud, "POST", alice, "/trunks", {"trunk": {"port_id": missing}},
                404) == "PortNotFound"  # fmt: skip
    # a port with a device is no subport
    used = _port(cloud, alice, net_b, device_id="vm-1")
    assert _err(cloud, "PUT", alice, base + "/add_subports",
                {"sub_ports": [_sub(used["id"], 8)]}, 409) == "PortInUse"  # fmt: skip
    # a subport with its own MAC and network is fine
    out = _req(cloud, "PUT", alice, base + "/add_subports", {"sub_ports": [_sub(s2["id"], 200)]})
    assert [sp["segmentation_id"] for sp in out["sub_ports"]] == [100, 200]
    got = _req(cloud, "GET", alice, base + "/get_subports")
    assert got == {"sub_ports": out["sub_ports"]}
    # trunk_details on the parent (shown and listed), with the subports' MACs
    details = {"trunk_id": t["id"], "sub_ports": [
        {**_sub(s1["id"], 100), "mac_address": s1["mac_address"]},
        {**_sub(s2["id"], 200), "mac_address": s2["mac_address"]}]}  # fmt: skip
    assert _req(cloud, "GET", alice, f"/ports/{parent['id']}")["port"]["trunk_details"] == details
    listed = {p["id"]: p for p in _req(cloud, "GET", alice, "/ports")["ports"]}
    assert listed[parent["id"]]["trunk_details"] == details
    assert "trunk_details" not in listed[s1["id"]]
    # ports in a trunk are not deleted
    assert _err(cloud, "DELETE", alice, f"/ports/{parent['id']}", None, 409) == \
        "PortInUseAsTrunkParent"  # fmt: skip
    assert _err(cloud, "DELETE", alice, f"/ports/{s1['id']}", None, 409) == "PortInUseAsSubPort"
    # remove: by port id; one not on the trunk is 404
    out = _req(cloud, "PUT", alice, base + "/remove_subports",
               {"sub_ports": [{"port_id": s1["id"]}]})  # fmt: skip
    assert out["sub_ports"] == [_sub(s2["id"], 200)]
    listed = {p["id"]: p for p in _req(cloud, "GET", alice, "/ports")["ports"]}
    assert [sp["port_id"] for sp in listed[parent["id"]]["trunk_details"]["sub_ports"]] == [
        s2["id"]]  # fmt: skip
    assert _err(cloud, "PUT", alice, base + "/remove_subports",
                {"sub_ports": [{"port_id": s1["id"]}]}, 404) == "SubPortNotFound"  # fmt: skip
    port = _req(cloud, "GET", alice, f"/ports/{s1['id']}")["port"]
    assert port["device_owner"] == "" and port["device_id"] == ""
    # a disabled trunk takes no changes and is not deleted
    _req(cloud, "PUT", alice, base, {"trunk": {"admin_state_up": False, "name": "u"}})
    assert _err(cloud, "PUT", alice, base + "/add_subports",
                {"sub_ports": [_sub(s1["id"], 9)]}, 409) == "TrunkDisabled"  # fmt: skip
    assert _err(cloud, "DELETE", alice, base, None, 409) == "TrunkDisabled"
    _req(cloud, "PUT", alice, base, {"trunk": {"port_id": s1["id"]}}, status=400)
    _req(cloud, "PUT", alice, base, {"trunk": {"admin_state_up": True}})
    # other projects see nothing, and cannot use others' ports
    _req(cloud, "GET", bob, base, status=404)
    assert _req(cloud, "GET", bob, "/trunks")["trunks"] == []
    assert [x["id"] for x in _req(cloud, "GET", alice, "/trunks?name=u")["trunks"]] == [t["id"]]
    _req(cloud, "POST", bob, "/trunks", {"trunk": {"port_id": s1["id"]}}, status=404)
    aliases = {e["alias"] for e in _req(cloud, "GET", alice, "/extensions")["extensions"]}
    assert {"trunk", "trunk-details"} <= aliases
    # tags
    _req(cloud, "PUT", alice, f"{base}/tags/red", status=201)
    assert _req(cloud, "GET", alice, base)["trunk"]["tags"] == ["red"]
    # deleting the trunk releases its subports
    _req(cloud, "DELETE", alice, base, status=204)
    assert "trunk_details" not in _req(cloud, "GET", alice, f"/ports/{parent['id']}")["port"]
    assert _req(cloud, "GET", alice, f"/ports/{s2['id']}")["port"]["device_owner"] == ""
    _req(cloud, "DELETE", alice, f"/ports/{parent['id']}", status=204)
    assert _err(cloud, "GET", alice, base, None, 404) == "TrunkNotFound"


def test_subport_mtu_above_parent_refused(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    small, large = _net(cloud, alice, "10.3.0.0/24", 1400), _net(cloud, alice, "10.4.0.0/24")
    parent, sub = _port(cloud, alice, small), _port(cloud, alice, large)
    assert _err(cloud, "POST", alice, "/trunks", {"trunk": {"port_id": parent["id"],
                "sub_ports": [_sub(sub["id"])]}}, 409) == "SubPortMtuGreaterThanTrunkPortMtu"  # fmt: skip


def _events(cloud: Cloud, kind: str, object_id: str) -> list[OutboxEvent]:
    with cloud.rt.db.read_session() as s:
        q = select(OutboxEvent).where(OutboxEvent.kind == kind, OutboxEvent.object_id == object_id)
        rows = list(s.scalars(q.order_by(OutboxEvent.revision)))
        s.expunge_all()
        return rows


def test_subports_follow_the_parents_host(cloud: Cloud) -> None:
    alice, admin = cloud.member("alice"), cloud.admin
    net_a, net_b = _net(cloud, alice, "10.5.0.0/24"), _net(cloud, alice, "10.6.0.0/24")
    parent, sub = _port(cloud, alice, net_a), _port(cloud, alice, net_b)
    t = cloud.post(alice, "/trunks", {"trunk": {"port_id": parent["id"],
                   "sub_ports": [_sub(sub["id"], 42)]}})["trunk"]  # fmt: skip
    assert _req(cloud, "GET", admin, f"/ports/{sub['id']}")["port"]["binding:host_id"] == ""
    _req(cloud, "PUT", admin, f"/ports/{parent['id']}", {"port": {"binding:host_id": "h1"}})
    assert _req(cloud, "GET", admin, f"/ports/{sub['id']}")["port"]["binding:host_id"] == "h1"
    assert _req(cloud, "GET", alice, f"/trunks/{t['id']}")["trunk"]["status"] == "BUILD"
    last = _events(cloud, "port", sub["id"])[-1]
    assert "host:h1" in last.topics
    assert last.body["kumo_trunk"] == {"trunk_id": t["id"], "parent_port_id": parent["id"],
                                       "segmentation_id": 42}  # fmt: skip
    # removed: unbound, and the old host hears of it
    _req(cloud, "PUT", alice, f"/trunks/{t['id']}/remove_subports",
         {"sub_ports": [{"port_id": sub["id"]}]})  # fmt: skip
    last = _events(cloud, "port", sub["id"])[-1]
    assert "host:h1" in last.topics and "kumo_trunk" not in last.body
    assert last.body["binding:host_id"] == ""
    # the trunk's events go to the parent's host
    assert "host:h1" in _events(cloud, "trunk", t["id"])[-1].topics
