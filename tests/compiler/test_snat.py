"""Distributed SNAT in the compiler: hosts with port blocks translate their
own instances; the gateway forwards return traffic by block, statelessly.

Hosts c1 (two instances, two blocks), c2 (one instance, no block yet),
g (the router's gateway host, carrying its gateway port) and g2 (a gateway
host of the router too, when asked).
"""

from __future__ import annotations

from typing import Any

from kumo.compiler import ClusterView, HostPlan, compile_host
from kumo.compiler import names as n
from kumo.compiler.model import FloatingIpView, RouterView, SnatLeaseView
from kumo.compiler.plan import NatLimit, SnatGateway, UplinkForward
from kumo.compiler.routers import fip_leg_mac
from kumo.compiler.snat import instance_snat, shares
from tests.compiler import states as s

R = "e0000000-0000-4000-8000-0000000000e1"
EXT = "e0000000-0000-4000-8000-0000000000ee"
IF1 = "e1000000-0000-4000-8000-000000000001"
SNAT = "ec100000-0000-4000-8000-000000000001"
GW = "e9000000-0000-4000-8000-000000000009"
P2 = "a2000000-0000-4000-8000-000000000002"
P3 = "a3000000-0000-4000-8000-000000000003"
GW_MAC = "fa:16:3e:00:09:09"
TUNNEL = {"c1": "192.0.2.11", "c2": "192.0.2.12", "g": "192.0.2.13", "g2": "192.0.2.14"}
LEASES = [
    {"host": "c1", "external_ip": "203.0.113.10", "port_range": "1024:1087"},
    {"host": "c1", "external_ip": "203.0.113.10", "port_range": "1152:1215"},
    {"host": "c9", "external_ip": "203.0.113.10", "port_range": "1088:1151"},
]


def view(
    *,
    distributed_snat: bool = True,
    leases: list[Any] | None = None,
    gateways: tuple[str, ...] = ("g",),
    gateway_qos: list[Any] | None = None,
) -> ClusterView:
    ports: list[Any] = [
        s.port(s.P1, s.NET1, "fa:16:3e:00:00:01", "c1", [("s1", "10.0.1.11")]),
        s.port(P2, s.NET1, "fa:16:3e:00:00:02", "c1", [("s1", "10.0.1.12")]),
        s.port(P3, s.NET1, "fa:16:3e:00:00:03", "c2", [("s1", "10.0.1.13")]),
        s.port(IF1, s.NET1, "fa:16:3e:00:01:01", "", [("s1", "10.0.1.1")],
               owner="network:router_interface_distributed", device_id=R),
        s.port(SNAT, s.NET1, "fa:16:3e:00:01:02", "g", [("s1", "10.0.1.2")],
               owner="network:router_centralized_snat", device_id=R),
        s.port(GW, EXT, GW_MAC, "g", [("sx", "203.0.113.10")],
               owner="network:router_gateway", device_id=R),
    ]  # fmt: skip
    router = {
        "id": R, "admin_state_up": True, "distributed": True, "ha": False,
        "kumo_gateway_hosts": list(gateways),
        "external_gateway_info": {"network_id": EXT, "enable_snat": True,
                                  "external_fixed_ips": [{"subnet_id": "sx",
                                                          "ip_address": "203.0.113.10"}]},
        "routes": [], "kumo_ports": s.router_ports(R, ports),
        "kumo_distributed_snat": distributed_snat,
        "kumo_snat_leases": LEASES if leases is None else leases,
        "kumo_gateway_qos_rules": gateway_qos or [],
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


def plan(host: str, **kw: Any) -> HostPlan:
    return compile_host(host, view(**kw))


def lines(p: HostPlan, ns: str, *kinds: str) -> list[str]:
    return [x for x in p.describe() if x.split()[0] in kinds and f" {ns} " in f"{x} "]


def test_a_host_with_blocks_translates_its_instances_itself() -> None:
    ns = n.router_netns("c1", R)
    leg = n.router_gw_name(R)
    assert lines(plan("c1"), ns, "nat", "rule") == [
        f"nat {ns} "
        f"snat 10.0.1.11/32->203.0.113.10:1024-1087 oif {leg} "
        f"snat 10.0.1.12/32->203.0.113.10:1152-1215 oif {leg} ",
        f"rule {ns} 40000 from all lookup 100",
    ]
    routes = [x for x in plan("c1").describe() if x.startswith(f"route {ns}")]
    assert f"route {ns} 0.0.0.0/0 via 203.0.113.1 dev {leg} table 100" in routes
    assert f"route {ns} 203.0.113.0/24 via - dev {leg} table 100" in routes
    # its external leg, with this host's own MAC; no address (the gateway
    # answers ARP for the external IP)
    legs = [x for x in plan("c1").describe() if x.startswith(f"link {ns} {leg}")]
    assert legs == [f"link {ns} {leg} veth mtu 1500 mac {fip_leg_mac('c1', R)} up"]
    assert not [x for x in plan("c1").describe() if x.startswith(f"addr {ns} {leg}")]


def test_a_host_without_blocks_goes_through_the_gateway() -> None:
    ns = n.router_netns("c2", R)
    inside = n.router_if_name(IF1)
    assert lines(plan("c2"), ns, "nat") == [f"nat {ns}  "]
    routes = [x for x in plan("c2").describe() if x.startswith(f"route {ns} 0.0.0.0/0")]
    assert routes == [f"route {ns} 0.0.0.0/0 via 10.0.1.2 dev {inside} table 100"]


def test_the_gateway_forwards_every_block_and_translates_the_rest_above_them() -> None:
    ns = n.snat_netns("g", R)
    gw = n.router_gw_name(GW)
    c1, c9 = fip_leg_mac("c1", R), fip_leg_mac("c9", R)
    assert lines(plan("g"), ns, "nat") == [
        f"nat {ns} snat all->203.0.113.10:61440-65535 oif {gw} snat all->203.0.113.10 oif {gw} "
        f" fwd {gw} 203.0.113.10:1024-1087->{c1}"
        f" fwd {gw} 203.0.113.10:1088-1151->{c9}"
        f" fwd {gw} 203.0.113.10:1152-1215->{c1}"
    ]
    table = next(t for t in plan("g").nat if t.netns == ns)
    assert table.forward_mac == GW_MAC


def test_centralized_snat_is_unchanged_without_the_mode() -> None:
    ns = n.snat_netns("g", R)
    gw = n.router_gw_name(GW)
    assert lines(plan("g", distributed_snat=False), ns, "nat") == [
        f"nat {ns} snat all->203.0.113.10 oif {gw} "
    ]
    assert lines(plan("c1", distributed_snat=False), n.router_netns("c1", R), "nat") == [
        f"nat {n.router_netns('c1', R)}  "
    ]


def test_shares_are_fair_and_picks_uniform() -> None:
    blocks = [SnatLeaseView("203.0.113.10", 1024 + 64 * i, 1087 + 64 * i, "h") for i in range(5)]
    got = shares(["10.0.0.2", "10.0.0.1"], blocks)
    assert [len(v) for v in got.values()] == [3, 2]
    assert list(got) == ["10.0.0.1", "10.0.0.2"]
    assert shares(["a", "b", "c"], blocks[:2]) == {
        "a": [blocks[0]], "b": [blocks[1]], "c": [blocks[0]]
    }  # fmt: skip
    rules = instance_snat("gw", ["10.0.0.1"], blocks[:3])
    assert [(r.ports, r.pick) for r in rules] == [((1024, 1087), 3), ((1088, 1151), 2),
                                                 ((1152, 1215), 1)]  # fmt: skip


def test_leases_parse_from_the_watch_body() -> None:
    body = {"id": R, "kumo_distributed_snat": True, "kumo_snat_leases": LEASES[:1]}
    router = RouterView.from_body(body)
    assert router.distributed_snat
    assert router.snat_leases == (SnatLeaseView("203.0.113.10", 1024, 1087, "c1"),)


def test_blocks_without_an_instance_to_translate() -> None:
    """A host's only instance got a floating IP: its blocks translate nobody
    (and the floating IP works as ever)."""
    assert shares([], [SnatLeaseView("203.0.113.10", 1024, 1087, "h")]) == {}
    fip = {"id": "f1", "floating_ip_address": "203.0.113.50", "floating_network_id": EXT,
           "router_id": R, "port_id": s.P1, "fixed_ip_address": "10.0.1.11"}  # fmt: skip
    base = view()
    with_fip = ClusterView.assemble(
        dict(base.networks), dict(base.subnets),
        {k: v for k, v in base.ports.items() if k != P2}, [], {}, dict(base.routers),
        {"f1": FloatingIpView.from_body(fip)},
    )  # fmt: skip
    ns = n.router_netns("c1", R)
    leg = n.router_gw_name(R)
    assert lines(compile_host("c1", with_fip), ns, "nat") == [
        f"nat {ns} snat 10.0.1.11/32->203.0.113.50 oif {leg} dnat 203.0.113.50->10.0.1.11"
    ]


def test_every_gateway_host_forwards_every_block_on_its_uplink() -> None:
    """Both gateway hosts, the one with the gateway port and the other,
    forward the leased blocks where the external network enters them; a
    block of the host itself goes on into its bridge."""
    leases = [*LEASES, {"host": "g2", "external_ip": "203.0.113.10", "port_range": "1216:1279"}]
    for host in ("g", "g2"):
        forward = compile_host(host, view(gateways=("g", "g2"), leases=leases)).snat_gateway
        want = sorted(
            UplinkForward("eth1", "203.0.113.10", int(low), int(high), fip_leg_mac(owner, R),
                          GW_MAC, local=owner == host)
            for owner, low, high in (("c1", 1024, 1087), ("c1", 1152, 1215),
                                     ("c9", 1088, 1151), ("g2", 1216, 1279))
        )  # fmt: skip
        assert forward == SnatGateway(tuple(want)), host
    # hosts that are no gateway host of the router forward nothing
    for host in ("c1", "c2"):
        assert compile_host(host, view(gateways=("g", "g2"))).snat_gateway.empty
    # nor without the mode or blocks
    assert compile_host("g2", view(gateways=("g", "g2"), leases=[])).snat_gateway.empty
    assert compile_host("g", view(distributed_snat=False)).snat_gateway.empty


GATEWAY_QOS = [
    {"type": "bandwidth_limit", "direction": "egress", "max_kbps": 8000, "max_burst_kbps": 0},
    {"type": "bandwidth_limit", "direction": "ingress", "max_kbps": 4000, "max_burst_kbps": 800},
    {"type": "packet_rate_limit", "direction": "egress", "max_kpps": 10, "max_burst_kpps": 0},
]


def test_a_host_with_blocks_applies_the_gateways_limits_to_what_it_translates() -> None:
    """qos-gateway-ip with distributed SNAT: each host translating with its
    own blocks limits its share on its external leg (the whole limit per
    host, as Neutron's per gateway port); the gateway's SNAT namespace still
    limits what it translates itself (hosts without a block)."""
    from kumo.dataplane.nftables.nat import nat_ruleset

    ns = n.router_netns("c1", R)
    leg = n.router_gw_name(R)
    table = next(x for x in plan("c1", gateway_qos=GATEWAY_QOS).nat if x.netns == ns)
    assert table.limits == (
        NatLimit(leg, "203.0.113.10", "egress", 1_000_000, 800_000),
        NatLimit(leg, "203.0.113.10", "ingress", 500_000, 100_000),
    )
    # the translation itself is unchanged
    plain = next(x for x in plan("c1").nat if x.netns == ns)
    assert plain.limits == () and plain.snat == table.snat
    # egress after the translation (from the external IP, out of the leg),
    # ingress before it is undone (to the external IP, in from the leg)
    rules = [r["add"]["rule"] for r in nat_ruleset(table) if "rule" in r.get("add", {})]
    limited = [
        (r["chain"], r["expr"][0]["match"]["left"]["meta"]["key"], r["expr"][0]["match"]["right"],
         r["expr"][1]["match"]["left"]["payload"]["field"], r["expr"][1]["match"]["right"])
        for r in rules
        if any("limit" in x for x in r["expr"])
    ]  # fmt: skip
    assert limited == [
        ("limit_out", "oifname", leg, "saddr", "203.0.113.10"),
        ("limit_in", "iifname", leg, "daddr", "203.0.113.10"),
    ]
    # a host without a block goes through the gateway, which limits it there
    c2 = n.router_netns("c2", R)
    assert next(x for x in plan("c2", gateway_qos=GATEWAY_QOS).nat if x.netns == c2).limits == ()
    snat_ns = n.snat_netns("g", R)
    gateway = next(x for x in plan("g", gateway_qos=GATEWAY_QOS).nat if x.netns == snat_ns)
    assert {(x.ifname, x.direction) for x in gateway.limits} == {
        (n.router_gw_name(GW), "egress"),
        (n.router_gw_name(GW), "ingress"),
    }


def test_blocks_limited_beside_a_floating_ip() -> None:
    """A host with blocks and a floating IP limits each address by its own policy."""
    fip = {"id": "f1", "floating_ip_address": "203.0.113.50", "floating_network_id": EXT,
           "router_id": R, "port_id": s.P1, "fixed_ip_address": "10.0.1.11",
           "kumo_qos_rules": [GATEWAY_QOS[0]]}  # fmt: skip
    base = view(gateway_qos=GATEWAY_QOS[1:])
    with_fip = ClusterView.assemble(
        dict(base.networks), dict(base.subnets), dict(base.ports), [], {}, dict(base.routers),
        {"f1": FloatingIpView.from_body(fip)},
    )  # fmt: skip
    ns = n.router_netns("c1", R)
    leg = n.router_gw_name(R)
    table = next(x for x in compile_host("c1", with_fip).nat if x.netns == ns)
    assert table.limits == (
        NatLimit(leg, "203.0.113.10", "ingress", 500_000, 100_000),
        NatLimit(leg, "203.0.113.50", "egress", 1_000_000, 800_000),
    )
