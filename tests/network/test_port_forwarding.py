"""Floating IP port forwarding over HTTP: CRUD, and the conflicts Neutron refuses."""

from __future__ import annotations

from typing import Any

from tests.network.conftest import Cloud, N
from tests.network.test_floatingips import fip, topology
from tests.network.test_routers import events


def _req(cloud: Cloud, method: str, h: dict[str, str], path: str, body: Any = None,
         status: int = 200) -> Any:  # fmt: skip
    r = cloud.c.request(method, f"{N}{path}", headers=h, json=body)
    assert r.status_code == status, r.text
    return r.json() if r.content else None


def test_crud_and_conflicts(cloud: Cloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    t = topology(cloud, alice)
    ext_id, port = t["ext"]["network"]["id"], t["port"]
    ip = port["fixed_ips"][0]["ip_address"]
    f = fip(cloud, alice, ext_id)
    base = f"/floatingips/{f['id']}/port_forwardings"
    body = {"protocol": "tcp", "internal_port_id": port["id"], "internal_ip_address": ip,
            "internal_port": 22, "external_port": 2222}  # fmt: skip
    pf = cloud.post(alice, base, {"port_forwarding": {**body, "description": "ssh"}})[
        "port_forwarding"]  # fmt: skip
    assert pf == {"id": pf["id"], **body, "description": "ssh"}
    shown = _req(cloud, "GET", alice, f"/floatingips/{f['id']}")["floatingip"]
    assert shown["router_id"] == t["router"]["id"] and shown["port_id"] is None
    # expose-port-forwarding-in-fip
    assert shown["port_forwardings"] == [
        {"protocol": "tcp", "internal_ip_address": ip, "internal_port": 22, "external_port": 2222}
    ]
    aliases = {e["alias"] for e in _req(cloud, "GET", alice, "/extensions")["extensions"]}
    assert {"floating-ip-port-forwarding", "floating-ip-port-forwarding-description",
            "expose-port-forwarding-in-fip"} <= aliases  # fmt: skip
    assert "floating-ip-port-forwarding-port-ranges" not in aliases
    # the same outside, or the same inside, twice: 400
    err = _req(cloud, "POST", alice, base, {"port_forwarding": {**body, "internal_port": 23}},
               status=400)  # fmt: skip
    assert "external_port" in err["NeutronError"]["message"]
    err = _req(cloud, "POST", alice, base, {"port_forwarding": {**body, "external_port": 2223}},
               status=400)  # fmt: skip
    assert "internal_port" in err["NeutronError"]["message"]
    # validation
    for bad in ({"protocol": "icmp"}, {"external_port": 0}, {"internal_port": 70000},
                {"internal_ip_address": "10.9.9.9"}):  # fmt: skip
        _req(cloud, "POST", alice, base, {"port_forwarding": {**body, "external_port": 3000,
             **bad}}, status=400)  # fmt: skip
    udp = cloud.post(alice, base, {"port_forwarding": {**body, "protocol": "udp"}})[
        "port_forwarding"]  # fmt: skip
    listed = _req(cloud, "GET", alice, base)["port_forwardings"]
    assert sorted(p["protocol"] for p in listed) == ["tcp", "udp"]
    assert _req(cloud, "GET", alice, base + "?protocol=udp")["port_forwardings"] == [udp]
    out = _req(cloud, "PUT", alice, f"{base}/{udp['id']}",
               {"port_forwarding": {"external_port": 5353}})["port_forwarding"]  # fmt: skip
    assert out["external_port"] == 5353
    # a floating IP with forwardings takes no port; a forwarded port takes no floating IP
    err = _req(cloud, "PUT", alice, f"/floatingips/{f['id']}",
               {"floatingip": {"port_id": port["id"]}}, status=409)  # fmt: skip
    assert err["NeutronError"]["type"] == "FipInUseByPortForwarding"
    other = fip(cloud, alice, ext_id)
    err = _req(cloud, "PUT", alice, f"/floatingips/{other['id']}",
               {"floatingip": {"port_id": port["id"]}}, status=400)  # fmt: skip
    assert err["NeutronError"]["type"] == "PortHasPortForwarding"
    # a floating IP that forwards ports is not deleted
    err = _req(cloud, "DELETE", alice, f"/floatingips/{f['id']}", status=409)
    assert err["NeutronError"]["type"] == "FipInUseByPortForwarding"
    # another project sees nothing
    _req(cloud, "GET", bob, base, status=404)
    _req(cloud, "POST", bob, base, {"port_forwarding": body}, status=404)
    _req(cloud, "DELETE", alice, f"{base}/{pf['id']}", status=204)
    _req(cloud, "DELETE", alice, f"{base}/{udp['id']}", status=204)
    err = _req(cloud, "GET", alice, f"{base}/{udp['id']}", status=404)
    assert err["NeutronError"]["type"] == "PortForwardingNotFound"
    shown = _req(cloud, "GET", alice, f"/floatingips/{f['id']}")["floatingip"]
    assert shown["router_id"] is None and shown["port_forwardings"] == []
    # the router's hosts hear that the last forwarding went (they serve it)
    last = events(cloud, "floatingip", f["id"])[-1]
    assert f"router:{t['router']['id']}" in last.topics and last.body["port_forwardings"] == []


def test_associated_floating_ip_or_port_refused(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    t = topology(cloud, alice)
    ext_id, port = t["ext"]["network"]["id"], t["port"]
    ip = port["fixed_ips"][0]["ip_address"]
    bound = fip(cloud, alice, ext_id, port_id=port["id"])
    body = {"protocol": "tcp", "internal_port_id": port["id"], "internal_ip_address": ip,
            "internal_port": 80, "external_port": 8080}  # fmt: skip
    err = _req(cloud, "POST", alice, f"/floatingips/{bound['id']}/port_forwardings",
               {"port_forwarding": body}, status=409)  # fmt: skip
    assert err["NeutronError"]["type"] == "FloatingIPPortAlreadyAssociated"
    free = fip(cloud, alice, ext_id)
    err = _req(cloud, "POST", alice, f"/floatingips/{free['id']}/port_forwardings",
               {"port_forwarding": body}, status=409)  # fmt: skip
    assert err["NeutronError"]["type"] == "PortHasBindingFloatingIP"
