"""Floating IP port forwarding over HTTP: CRUD, and the conflicts Neutron refuses."""

from __future__ import annotations

from typing import Any

from tests.network.conftest import Cloud, N
from tests.network.test_floatingips import fip, topology
from tests.network.test_routers import events, register_agent


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
    assert pf == {"id": pf["id"], **body, "description": "ssh",
                  "internal_port_range": "22:22", "external_port_range": "2222:2222"}  # fmt: skip
    shown = _req(cloud, "GET", alice, f"/floatingips/{f['id']}")["floatingip"]
    assert shown["router_id"] == t["router"]["id"] and shown["port_id"] is None
    # expose-port-forwarding-in-fip, with floating-ip-port-forwarding-detail
    assert shown["port_forwardings"] == [
        {"id": pf["id"], "internal_port_id": port["id"], "protocol": "tcp",
         "internal_ip_address": ip, "internal_port": 22, "external_port": 2222}
    ]  # fmt: skip
    aliases = {e["alias"] for e in _req(cloud, "GET", alice, "/extensions")["extensions"]}
    assert {"floating-ip-port-forwarding", "floating-ip-port-forwarding-description",
            "expose-port-forwarding-in-fip", "floating-ip-port-forwarding-port-ranges",
            "floating-ip-port-forwarding-detail"} <= aliases  # fmt: skip
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


def test_port_ranges(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    t = topology(cloud, alice)
    ext_id, port = t["ext"]["network"]["id"], t["port"]
    ip = port["fixed_ips"][0]["ip_address"]
    f = fip(cloud, alice, ext_id)
    base = f"/floatingips/{f['id']}/port_forwardings"
    body = {"protocol": "tcp", "internal_port_id": port["id"], "internal_ip_address": ip}

    def post(status: int = 201, **extra: Any) -> Any:
        return _req(cloud, "POST", alice, base, {"port_forwarding": {**body, **extra}},
                    status=status)  # fmt: skip

    # N external ports to N internal ports
    many = post(internal_port_range="8000:8009", external_port_range="9000:9009")
    pf = many["port_forwarding"]
    assert (pf["internal_port"], pf["external_port"]) == (None, None)
    assert (pf["internal_port_range"], pf["external_port_range"]) == ("8000:8009", "9000:9009")
    # N external ports to one internal port; a one-port range is a port
    one = post(internal_port_range="7000", external_port_range="9100:9109")["port_forwarding"]
    assert one["internal_port"] == 7000 and one["internal_port_range"] == "7000:7000"
    assert one["external_port"] is None
    # 1 to N and N to M are refused
    for i, o in (("6000:6009", "9200"), ("6000:6004", "9200:9209")):
        err = post(400, internal_port_range=i, external_port_range=o)
        assert err["NeutronError"]["type"] == "BadRequest", err
    # a port and a range of the same side together
    err = post(400, internal_port=22, internal_port_range="22:22", external_port=2222)
    assert "internal_port_range" in err["NeutronError"]["message"]
    # malformed ranges
    for bad in ("1:2:3", "a:b", "0:10", "10:70000", "20:10", "", ":", "5:"):
        err = post(400, internal_port_range=bad, external_port_range=bad)
        assert err["NeutronError"]["type"] in ("InvalidInput", "BadRequest"), bad
    # overlapping outside (same protocol) refused; another protocol is fine
    err = post(400, internal_port=22, external_port_range="9005:9300")
    assert "external_port" in err["NeutronError"]["message"]
    err = post(400, internal_port=22, external_port=9109)
    assert "external_port" in err["NeutronError"]["message"]
    post(protocol="udp", internal_port_range="8000:8009", external_port_range="9000:9009")
    # overlapping inside refused
    err = post(400, internal_port_range="8009:8010", external_port_range="9500:9501")
    assert "internal_port" in err["NeutronError"]["message"]
    # a range updated to a port, and back
    path = f"{base}/{pf['id']}"
    out = _req(cloud, "PUT", alice, path,
               {"port_forwarding": {"internal_port": 8000, "external_port": 9000}})  # fmt: skip
    assert out["port_forwarding"]["external_port_range"] == "9000:9000"
    out = _req(cloud, "PUT", alice, path, {"port_forwarding": {"external_port_range": "9000:9001"}})
    assert out["port_forwarding"]["internal_port"] == 8000
    _req(cloud, "PUT", alice, path, {"port_forwarding": {"internal_port_range": "1:3"}},
         status=400)  # fmt: skip
    # the floating IP lists them whole (floating-ip-port-forwarding-detail)
    shown = _req(cloud, "GET", alice, f"/floatingips/{f['id']}")["floatingip"]
    entry = next(p for p in shown["port_forwardings"] if p["id"] == one["id"])
    assert entry == {"id": one["id"], "internal_port_id": port["id"], "protocol": "tcp",
                     "internal_ip_address": ip, "internal_port": 7000,
                     "external_port_range": "9100:9109"}  # fmt: skip
    # the hosts hear the ranges
    last = events(cloud, "floatingip", f["id"])[-1]
    assert {p["external_port_range"] for p in last.body["port_forwardings"]} >= {"9100:9109"}


def test_answering_host_moves_off_a_dead_agent(cloud: Cloud) -> None:
    from kumo.db.agent_models import Agent
    from kumo.db.base import utcnow
    from kumo.network.port_forwarding import answerer

    alice, admin = cloud.member("alice"), cloud.admin
    agents = {h: register_agent(cloud, h, gateway=False) for h in ("c1", "c2")}
    t = topology(cloud, alice)
    inner = t["inner"]["network"]["id"]
    f = fip(cloud, alice, t["ext"]["network"]["id"])
    base = f"/floatingips/{f['id']}/port_forwardings"
    for i, host in enumerate(("c2", "c1")):
        port = cloud.post(alice, "/ports", {"port": {"network_id": inner}})["port"]
        _req(cloud, "PUT", admin, f"/ports/{port['id']}",
             {"port": {"binding:host_id": host}})  # fmt: skip
        cloud.post(alice, base, {"port_forwarding": {
            "protocol": "tcp", "internal_port_id": port["id"], "internal_port": 80,
            "internal_ip_address": port["fixed_ips"][0]["ip_address"], "external_port": 80 + i,
        }})  # fmt: skip
    settings = cloud.rt.settings
    # both live: the first by name answers, and the hosts hear it
    assert answerer.reassign(cloud.rt.db, settings) == [f["id"]]
    assert events(cloud, "floatingip", f["id"])[-1].body["kumo_forwarding_host"] == "c1"
    assert answerer.reassign(cloud.rt.db, settings) == []
    # the user's view does not show it
    shown = _req(cloud, "GET", alice, f"/floatingips/{f['id']}")["floatingip"]
    assert "kumo_forwarding_host" not in shown
    # c1's agent goes quiet: c2 takes over, and keeps it when c1 comes back
    with cloud.rt.db.write_session() as s:
        row = s.get(Agent, agents["c1"]["id"])
        assert row is not None
        row.heartbeat_timestamp = utcnow().replace(year=2000)
        s.commit()
    assert answerer.reassign(cloud.rt.db, settings) == [f["id"]]
    assert events(cloud, "floatingip", f["id"])[-1].body["kumo_forwarding_host"] == "c2"
    with cloud.rt.db.write_session() as s:
        row = s.get(Agent, agents["c1"]["id"])
        assert row is not None
        row.heartbeat_timestamp = utcnow()
        s.commit()
    assert answerer.reassign(cloud.rt.db, settings) == []


def test_choose() -> None:
    from kumo.network.port_forwarding.answerer import choose

    assert choose(["b", "a"], {"a", "b"}) == "a"
    assert choose(["b", "a"], {"a", "b"}, "b") == "b"
    assert choose(["b", "a"], {"a"}, "b") == "a"
    assert choose(["b", "a"], set(), "b") == "b"
    assert choose(["b", "a"], set(), "z") == "a"
    assert choose([], {"a"}) == ""
