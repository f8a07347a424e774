"""Floating IP port forwarding in the compiler: each forwarding served on
the host of its internal port, the floating IP answered by one host that
relays the others' frames.

Hosts c1 (instance 10.0.1.11), c2 (instance 10.0.1.13), g (the
router's gateway host) and c3 (instance 10.0.1.14, only where a test asks
for it); floating IP 203.0.113.50 forwards tcp 80 to c2's instance and
tcp 2222 / udp 53 to c1's.
"""

from __future__ import annotations

from typing import Any

from kumo.compiler import ClusterView, HostPlan, compile_host
from kumo.compiler import names as n
from kumo.compiler.forwarding import REPLY_MARK, RULE_PRIORITY, serve
from kumo.compiler.model import FloatingIpView
from kumo.compiler.routers import fip_leg_mac
from tests.compiler import states as s

R = "e0000000-0000-4000-8000-0000000000e1"
EXT = "e0000000-0000-4000-8000-0000000000ee"
IF1 = "e1000000-0000-4000-8000-000000000001"
SNAT = "ec100000-0000-4000-8000-000000000001"
GW = "e9000000-0000-4000-8000-000000000009"
P3 = "a3000000-0000-4000-8000-000000000003"
P4 = "a4000000-0000-4000-8000-000000000004"
FIP = "f0000000-0000-4000-8000-0000000000f1"
ADDR = "203.0.113.50"
TUNNEL = {"c1": "192.0.2.11", "c2": "192.0.2.12", "g": "192.0.2.13"}
FORWARDINGS = [
    {"protocol": "tcp", "external_port": 80, "internal_ip_address": "10.0.1.13",
     "internal_port": 8080},
    {"protocol": "tcp", "external_port": 2222, "internal_ip_address": "10.0.1.11",
     "internal_port": 22},
    {"protocol": "udp", "external_port": 53, "internal_ip_address": "10.0.1.11",
     "internal_port": 5353},
]  # fmt: skip


def view(
    forwardings: list[Any] | None = None,
    *,
    distributed: bool = True,
    answer: str | None = None,
    third: bool = False,
) -> ClusterView:
    tunnel = {**TUNNEL, "c3": "192.0.2.14"} if third else TUNNEL
    ports: list[Any] = [
        s.port(s.P1, s.NET1, "fa:16:3e:00:00:01", "c1", [("s1", "10.0.1.11")]),
        s.port(P3, s.NET1, "fa:16:3e:00:00:03", "c2", [("s1", "10.0.1.13")]),
        *([s.port(P4, s.NET1, "fa:16:3e:00:00:04", "c3", [("s1", "10.0.1.14")])] if third
          else []),
        s.port(IF1, s.NET1, "fa:16:3e:00:01:01", "" if distributed else "g", [("s1", "10.0.1.1")],
               owner="network:router_interface_distributed" if distributed
               else "network:router_interface", device_id=R),
        s.port(GW, EXT, "fa:16:3e:00:09:09", "g", [("sx", "203.0.113.10")],
               owner="network:router_gateway", device_id=R),
    ]  # fmt: skip
    if distributed:
        ports.append(s.port(SNAT, s.NET1, "fa:16:3e:00:01:02", "g", [("s1", "10.0.1.2")],
                            owner="network:router_centralized_snat", device_id=R))  # fmt: skip
    router = {
        "id": R, "admin_state_up": True, "distributed": distributed, "ha": False,
        "kumo_gateway_hosts": ["g"],
        "external_gateway_info": {"network_id": EXT, "enable_snat": True,
                                  "external_fixed_ips": [{"subnet_id": "sx",
                                                          "ip_address": "203.0.113.10"}]},
        "routes": [], "kumo_ports": s.router_ports(R, ports),
    }  # fmt: skip
    fip = {
        "id": FIP, "floating_ip_address": ADDR, "floating_network_id": EXT, "router_id": R,
        "port_id": None, "fixed_ip_address": None,
        "port_forwardings": FORWARDINGS if forwardings is None else forwardings,
        "kumo_forwarding_host": answer,
    }  # fmt: skip
    agents = [
        s.agent(h, ip, bridge_mappings={"external": "eth1"}, underlay_device="eth0")
        for h, ip in tunnel.items()
    ]
    return ClusterView.from_bodies(
        [s.network(s.NET1, seg=101),
         s.network(EXT, kind="flat", seg=None, **{"provider:physical_network": "external"})],
        [s.subnet("s1", s.NET1, "10.0.1.0/24", "10.0.1.1"),
         s.subnet("sx", EXT, "203.0.113.0/24", "203.0.113.1")],
        ports, agents, (), [router], [fip],
    )  # fmt: skip


def plan(host: str, **kw: Any) -> HostPlan:
    return compile_host(host, view(**kw))


def lines(p: HostPlan, ns: str, *kinds: str) -> list[str]:
    return [x for x in p.describe() if x.split()[0] in kinds and f" {ns} " in f"{x} "]


def test_each_host_translates_the_forwardings_to_its_own_ports() -> None:
    leg = n.router_gw_name(R)
    ns1, ns2 = n.router_netns("c1", R), n.router_netns("c2", R)
    nat1 = lines(plan("c1"), ns1, "nat")[0]
    assert f" pf tcp {ADDR}:2222->10.0.1.11:22" in nat1
    assert f" pf udp {ADDR}:53->10.0.1.11:5353" in nat1
    assert "8080" not in nat1.split(" relay ")[0]
    nat2 = lines(plan("c2"), ns2, "nat")[0]
    assert f" pf tcp {ADDR}:80->10.0.1.13:8080" in nat2
    assert "10.0.1.11" not in nat2
    # replies leave through the host's own external leg (marked, then the
    # floating IP table: default route upstream through the leg)
    for host, ns in (("c1", ns1), ("c2", ns2)):
        p = plan(host)
        assert f"mark replies {REPLY_MARK:#x} hairpin !{leg}" in lines(p, ns, "nat")[0]
        assert f"rule {ns} {RULE_PRIORITY} from all fwmark {REPLY_MARK:#x} lookup 101" in (
            p.describe()
        )
        assert f"route {ns} 0.0.0.0/0 via 203.0.113.1 dev {leg} table 101" in p.describe()
        legs = [x for x in p.describe() if x.startswith(f"link {ns} {leg}")]
        assert legs == [f"link {ns} {leg} veth mtu 1500 mac {fip_leg_mac(host, R)} up"]


def test_one_host_answers_for_the_address_and_relays_the_others() -> None:
    leg = n.router_gw_name(R)
    ns1, ns2 = n.router_netns("c1", R), n.router_netns("c2", R)
    # c1 is first by name: the address (ARP) is on its leg, and it relays
    # c2's forwarding to c2's leg
    assert f"addr {ns1} {leg} {ADDR}/32" in plan("c1").describe()
    nat1 = lines(plan("c1"), ns1, "nat")[0]
    assert nat1.endswith(f" relay {leg} tcp {ADDR}:80->{fip_leg_mac('c2', R)}")
    # c2 neither answers nor relays
    assert not [x for x in plan("c2").describe() if x.startswith(f"addr {ns2} {leg}")]
    assert " relay " not in lines(plan("c2"), ns2, "nat")[0]
    table = next(t for t in plan("c1").nat if t.netns == ns1)
    assert (table.relay_ifname, table.relay_mac) == (leg, fip_leg_mac("c1", R))


def test_forwardings_to_one_host_only_are_answered_there_without_relay() -> None:
    only_c2 = [FORWARDINGS[0]]
    leg = n.router_gw_name(R)
    ns1, ns2 = n.router_netns("c1", R), n.router_netns("c2", R)
    assert f"addr {ns2} {leg} {ADDR}/32" in plan("c2", forwardings=only_c2).describe()
    assert " relay " not in lines(plan("c2", forwardings=only_c2), ns2, "nat")[0]
    # c1 serves nothing of it: its external leg (no floating IP, no block)
    # has no address and only takes its instances' frames to c2 (hairpin)
    nat1 = lines(plan("c1", forwardings=only_c2), ns1, "nat")[0]
    assert " pf " not in nat1 and " relay " not in nat1 and " hairpin" not in nat1
    assert nat1.endswith(f" steer {n.router_if_name(IF1)}->{leg} tcp {ADDR}:80->"
                         f"{fip_leg_mac('c2', R)}")  # fmt: skip
    assert not [x for x in plan("c1", forwardings=only_c2).describe()
                if x.startswith(f"addr {ns1} {leg}")]  # fmt: skip


def test_removing_every_forwarding_removes_the_translation() -> None:
    ns1 = n.router_netns("c1", R)
    p = plan("c1", forwardings=[])
    assert lines(p, ns1, "nat") == [f"nat {ns1}  "]
    assert not [x for x in p.describe() if "fwmark" in x]


def test_the_gateway_host_serves_nothing_of_a_distributed_router() -> None:
    assert " pf " not in " ".join(plan("g").describe())


def test_a_centralized_router_serves_them_all_on_its_gateway_host() -> None:
    ns = n.router_netns("g", R)
    gw_leg = n.router_gw_name(GW)
    p = plan("g", distributed=False)
    nat = lines(p, ns, "nat")[0]
    for pf in FORWARDINGS:
        assert (
            f" pf {pf['protocol']} {ADDR}:{pf['external_port']}->"
            f"{pf['internal_ip_address']}:{pf['internal_port']}"
        ) in nat
    assert " relay " not in nat and "mark replies" not in nat
    assert f"addr {ns} {gw_leg} {ADDR}/32" in p.describe()


def test_unknown_internal_addresses_and_ports_of_other_routers_are_skipped() -> None:
    stray = [{"protocol": "tcp", "external_port": 81, "internal_ip_address": "10.9.9.9",
              "internal_port": 80}]  # fmt: skip
    v = view(forwardings=stray)
    served = serve("c1", v, v.routers[R], lambda h: fip_leg_mac(h, R))
    assert not served


def test_the_floating_ip_body_parses_its_forwardings() -> None:
    fip = FloatingIpView.from_body({
        "id": FIP, "floating_ip_address": ADDR, "floating_network_id": EXT, "router_id": R,
        "port_forwardings": list(reversed(FORWARDINGS))})  # fmt: skip
    assert [(f.protocol, f.external_port) for f in fip.port_forwardings] == [
        ("tcp", 80),
        ("tcp", 2222),
        ("udp", 53),
    ]
    bad = {"id": FIP, "floating_ip_address": ADDR, "floating_network_id": EXT,
           "port_forwardings": [{**FORWARDINGS[0], "protocol": "sctp"}]}  # fmt: skip
    v = ClusterView.from_bodies((), (), (), (), (), (), [bad])
    assert FIP not in v.floatingips and f"floatingip:{FIP}" in v.invalid


def test_port_ranges_are_served_and_relayed_whole() -> None:
    ranged = [
        {**FORWARDINGS[0], "external_port": None, "internal_port": None,
         "external_port_range": "9000:9009", "internal_port_range": "8000:8009"},
        {**FORWARDINGS[1], "external_port": None, "external_port_range": "7000:7004",
         "internal_port": 22, "internal_port_range": "22:22"},
    ]  # fmt: skip
    ns1, ns2 = n.router_netns("c1", R), n.router_netns("c2", R)
    leg = n.router_gw_name(R)
    nat1 = lines(plan("c1", forwardings=ranged), ns1, "nat")[0]
    assert f" pf tcp {ADDR}:7000-7004->10.0.1.11:22" in nat1
    assert nat1.endswith(f" relay {leg} tcp {ADDR}:9000-9009->{fip_leg_mac('c2', R)}")
    nat2 = lines(plan("c2", forwardings=ranged), ns2, "nat")[0]
    assert f" pf tcp {ADDR}:9000-9009->10.0.1.13:8000-8009" in nat2


def test_the_host_the_api_chose_answers_and_relays() -> None:
    leg = n.router_gw_name(R)
    ns1, ns2 = n.router_netns("c1", R), n.router_netns("c2", R)
    # c1's agent died: the API chose c2, which answers and relays c1's
    c2 = plan("c2", answer="c2")
    assert f"addr {ns2} {leg} {ADDR}/32" in c2.describe()
    nat2 = lines(c2, ns2, "nat")[0]
    assert f" relay {leg} tcp {ADDR}:2222->{fip_leg_mac('c1', R)}" in nat2
    assert f" relay {leg} udp {ADDR}:53->{fip_leg_mac('c1', R)}" in nat2
    c1 = plan("c1", answer="c2")
    assert f"addr {ns1} {leg} {ADDR}/32" not in c1.describe()
    assert " relay " not in lines(c1, ns1, "nat")[0]
    # a host that serves nothing of it is not taken
    assert f"addr {ns1} {leg} {ADDR}/32" in plan("c1", answer="g").describe()


def test_the_other_hosts_reach_the_answering_leg_directly() -> None:
    leg = n.router_gw_name(R)
    ns2 = n.router_netns("c2", R)
    # c1 answers: c2's instances reach the address on c1's leg (hairpin)
    assert f"neigh {ns2} {leg} {ADDR} {fip_leg_mac('c1', R)}" in plan("c2").describe()
    assert not [x for x in plan("c1").describe() if x.startswith("neigh ") and ADDR in x]


def test_each_host_steers_its_instances_to_forwardings_served_elsewhere() -> None:
    leg, inner = n.router_gw_name(R), n.router_if_name(IF1)
    ns1, ns2 = n.router_netns("c1", R), n.router_netns("c2", R)
    # c1 answers: its instances reach c2's forwarding through c2's leg, not
    # the address that is local here
    nat1 = lines(plan("c1"), ns1, "nat")[0]
    assert f" steer {inner}->{leg} tcp {ADDR}:80->{fip_leg_mac('c2', R)}" in nat1
    assert f"{ADDR}:2222->fa:17" not in nat1 and f"{ADDR}:53->fa:17" not in nat1
    # c2 (not answering) steers c1's two straight to c1's leg
    nat2 = lines(plan("c2"), ns2, "nat")[0]
    assert f" steer {inner}->{leg} tcp {ADDR}:2222->{fip_leg_mac('c1', R)}" in nat2
    assert f" steer {inner}->{leg} udp {ADDR}:53->{fip_leg_mac('c1', R)}" in nat2
    assert f"{ADDR}:80->fa:17" not in nat2
    # frames leave from the host's own leg MAC
    for host, ns in (("c1", ns1), ("c2", ns2)):
        table = next(t for t in plan(host).nat if t.netns == ns)
        assert (table.relay_ifname, table.relay_mac) == (leg, fip_leg_mac(host, R))
        assert table.steer_ifnames == (inner,)


def test_a_host_that_neither_answers_nor_serves_steers_each_to_its_server() -> None:
    leg, inner = n.router_gw_name(R), n.router_if_name(IF1)
    ns3 = n.router_netns("c3", R)
    p = plan("c3", third=True, answer="c2")
    nat3 = lines(p, ns3, "nat")[0]
    assert f" steer {inner}->{leg} tcp {ADDR}:80->{fip_leg_mac('c2', R)}" in nat3
    assert f" steer {inner}->{leg} tcp {ADDR}:2222->{fip_leg_mac('c1', R)}" in nat3
    assert f" steer {inner}->{leg} udp {ADDR}:53->{fip_leg_mac('c1', R)}" in nat3
    assert " pf " not in nat3 and " relay " not in nat3
    assert not [x for x in p.describe() if x.startswith(f"addr {ns3} {leg}")]


def test_the_serving_hosts_translate_what_other_hosts_steer_as_hairpin() -> None:
    ns1, ns2 = n.router_netns("c1", R), n.router_netns("c2", R)
    assert " hairpin-from 10.0.1.0/24" in lines(plan("c1"), ns1, "nat")[0]
    assert " hairpin-from 10.0.1.0/24" in lines(plan("c2"), ns2, "nat")[0]
    # a host serving nothing translates nothing
    nat3 = lines(plan("c3", third=True), n.router_netns("c3", R), "nat")[0]
    assert " hairpin" not in nat3


def test_a_centralized_router_steers_nothing() -> None:
    nat = lines(plan("g", distributed=False), n.router_netns("g", R), "nat")[0]
    assert " steer " not in nat
