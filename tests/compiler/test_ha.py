"""HA routers in the compiler: what the liveness view changes on each host.

Three hosts: c (compute, the instance), g1 and g2 (the router's gateway
hosts, g1 preferred). The same objects compile differently on each host
depending only on who is active.
"""

from __future__ import annotations

from typing import Any

import pytest

from kumo.compiler import ClusterView, HostPlan, compile_host
from kumo.compiler import names as n
from tests.compiler import states as s

R = "e0000000-0000-4000-8000-0000000000e1"
EXT = "e0000000-0000-4000-8000-0000000000ee"
IF1 = "e1000000-0000-4000-8000-000000000001"
SNAT = "ec100000-0000-4000-8000-000000000001"
GW = "e9000000-0000-4000-8000-000000000009"
SNAT_MAC, GW_MAC = "fa:16:3e:00:01:02", "fa:16:3e:00:09:09"
TUNNEL = {"c": "192.0.2.11", "g1": "192.0.2.12", "g2": "192.0.2.13"}


def view(*, distributed: bool = True, bound: str = "g1", ha: bool = True) -> ClusterView:
    owner = "network:router_interface" + ("_distributed" if distributed else "")
    ports: list[Any] = [
        s.port(s.P1, s.NET1, "fa:16:3e:00:00:01", "c", [("s1", "10.0.1.11")]),
        s.port(IF1, s.NET1, "fa:16:3e:00:01:01", "" if distributed else bound,
               [("s1", "10.0.1.1")], owner=owner, device_id=R),
        s.port(GW, EXT, GW_MAC, bound, [("sx", "203.0.113.10")],
               owner="network:router_gateway", device_id=R),
    ]  # fmt: skip
    if distributed:
        ports.append(s.port(SNAT, s.NET1, SNAT_MAC, bound, [("s1", "10.0.1.2")],
                            owner="network:router_centralized_snat", device_id=R))  # fmt: skip
    router = {
        "id": R, "admin_state_up": True, "distributed": distributed, "ha": ha,
        "kumo_gateway_hosts": ["g1", "g2"] if ha else [bound],
        "external_gateway_info": {"network_id": EXT, "enable_snat": True,
                                  "external_fixed_ips": [{"subnet_id": "sx",
                                                          "ip_address": "203.0.113.10"}]},
        "routes": [], "kumo_ports": s.router_ports(R, ports),
    }  # fmt: skip
    agents = [
        s.agent(h, ip, bridge_mappings={"external": "eth1"}, underlay_device="eth0")
        for h, ip in TUNNEL.items()
    ]
    return ClusterView.from_bodies(
        [s.network(s.NET1, seg=101),
         s.network(EXT, kind="flat", seg=None, **{"provider:physical_network": "external"})],
        [s.subnet("s1", s.NET1, "10.0.1.0/24", "10.0.1.1"),
         s.subnet("sx", EXT, "203.0.113.0/24", "203.0.113.1")],
        ports, agents, (), [router], (),
    )  # fmt: skip


def plan(host: str, active: str | None, **kw: Any) -> HostPlan:
    return compile_host(host, view(**kw), ha_active={R: active}, lease_ms=200)


def gates(p: HostPlan) -> dict[str, bool]:
    return {g.ifname: g.open for g in p.gate.legs}


def vxlan_dst(p: HostPlan, mac: str) -> str | None:
    return next((f.dst for f in p.fdb if f.mac == mac and not f.master), None)


def test_both_gateway_hosts_have_the_namespace_only_the_active_one_opens_it() -> None:
    ns = {h: n.snat_netns(h, R) for h in ("g1", "g2")}
    for host, active in (("g1", "g1"), ("g2", "g1"), ("g1", "g2"), ("g2", "g2")):
        p = plan(host, active)
        assert ns[host] in {x.name for x in p.netns}
        legs = gates(p)
        assert set(legs) == {n.router_port_name(SNAT), n.gateway_port_name(GW)}
        assert all(legs.values()) == (host == active)
        assert not any(legs.values()) or host == active
        assert p.gate.beat_device == "eth0" and p.gate.lease_ms == 200
        nat = next(t for t in p.nat if t.netns == ns[host])
        assert bool(nat.snat)  # the translation is ready on the standby too
        assert bool(nat.announce) == (host == active)  # gratuitous ARP on taking over
        loose = {x.value for x in p.sysctls if x.path.endswith("nf_conntrack_tcp_loose")}
        assert loose == {"0"}


def test_every_host_sends_the_snat_port_to_the_active_host() -> None:
    assert vxlan_dst(plan("c", "g1"), SNAT_MAC) == TUNNEL["g1"]
    assert vxlan_dst(plan("c", "g2"), SNAT_MAC) == TUNNEL["g2"]
    # the standby's own bridge sends it into the tunnel too ...
    assert vxlan_dst(plan("g2", "g1"), SNAT_MAC) == TUNNEL["g1"]
    # ... and the active host pins the MAC to its local leg.
    active = plan("g1", "g1")
    assert vxlan_dst(active, SNAT_MAC) is None
    pinned = {(f.ifname, f.mac) for f in active.fdb if f.master}
    assert (n.router_port_name(SNAT), SNAT_MAC) in pinned
    assert (n.gateway_port_name(GW), GW_MAC) in pinned


def test_only_the_active_host_wires_the_central_ports() -> None:
    assert {w.port_id for w in plan("g1", "g1").wiring} >= {SNAT, GW}
    assert not {w.port_id for w in plan("g2", "g1").wiring} & {SNAT, GW}


def test_nobody_active_closes_everything_and_the_api_binding_is_the_fallback() -> None:
    assert not any(gates(plan("g1", None)).values())
    assert vxlan_dst(plan("c", None), SNAT_MAC) is None
    # No liveness view at all: the API's binding (g1) holds.
    p = compile_host("c", view(), lease_ms=200)
    assert vxlan_dst(p, SNAT_MAC) == TUNNEL["g1"]


def test_without_state_sync_the_kernel_picks_up_connections_loosely() -> None:
    p = compile_host("g1", view(), ha_active={R: "g1"}, ha_state_sync=False)
    loose = {x.value for x in p.sysctls if x.path.endswith("nf_conntrack_tcp_loose")}
    assert loose == {"1"}


@pytest.mark.parametrize("active", ["g1", "g2"])
def test_a_centralized_ha_router_moves_its_interfaces_too(active: str) -> None:
    standby = "g2" if active == "g1" else "g1"
    on = plan(active, active, distributed=False)
    off = plan(standby, active, distributed=False)
    ns = n.router_netns
    assert ns(active, R) in {x.name for x in on.netns}
    assert ns(standby, R) in {x.name for x in off.netns}
    assert all(gates(on).values()) and not any(gates(off).values())
    assert n.router_port_name(IF1) in gates(on)
    assert vxlan_dst(plan("c", active, distributed=False), "fa:16:3e:00:01:01") == TUNNEL[active]


def test_a_router_that_is_not_ha_has_no_gate() -> None:
    p = compile_host("g1", view(ha=False), ha_active={}, lease_ms=200)
    assert p.gate.empty
    assert n.snat_netns("g1", R) in {x.name for x in p.netns}
    assert n.snat_netns("g2", R) not in {x.name for x in compile_host("g2", view(ha=False)).netns}
