"""Address scopes in the router compiler: a subnet in its router's external
network's address scope is routed out untranslated (its floating IPs still
are translated), on the gateway host of a distributed router, on a
centralized router, and by a compute host's leased SNAT blocks."""

from __future__ import annotations

from typing import Any

from kumo.compiler import ClusterView, compile_host
from kumo.compiler import names as n
from kumo.compiler.plan import NatTable
from kumo.dataplane.nftables.nat import nat_ruleset
from tests.compiler import states as s

R = "e0000000-0000-4000-8000-0000000000e1"
EXT = "e0000000-0000-4000-8000-0000000000ee"
IF1 = "e1000000-0000-4000-8000-000000000001"
IF2 = "e2000000-0000-4000-8000-000000000002"
SNAT1 = "ec100000-0000-4000-8000-000000000001"
SNAT2 = "ec200000-0000-4000-8000-000000000002"
GW = "e9000000-0000-4000-8000-000000000009"
P2 = "a2000000-0000-4000-8000-000000000002"
SCOPE = "5c000000-0000-4000-8000-00000000005c"
TUNNEL = {"c1": "192.0.2.11", "g": "192.0.2.13"}


def view(*, distributed: bool = True, scoped: bool = True, leases: bool = False) -> ClusterView:
    dvr = "network:router_interface" + ("_distributed" if distributed else "")
    where = "" if distributed else "g"
    ports: list[Any] = [
        s.port(s.P1, s.NET1, "fa:16:3e:00:00:01", "c1", [("s1", "10.0.1.11")]),
        s.port(P2, s.NET2, "fa:16:3e:00:00:02", "c1", [("s2", "10.0.2.12")]),
        s.port(IF1, s.NET1, "fa:16:3e:00:01:01", where, [("s1", "10.0.1.1")], owner=dvr,
               device_id=R),
        s.port(IF2, s.NET2, "fa:16:3e:00:02:01", where, [("s2", "10.0.2.1")], owner=dvr,
               device_id=R),
        s.port(GW, EXT, "fa:16:3e:00:09:09", "g", [("sx", "203.0.113.10")],
               owner="network:router_gateway", device_id=R),
    ]  # fmt: skip
    if distributed:
        snat = "network:router_centralized_snat"
        ports += [
            s.port(SNAT1, s.NET1, "fa:16:3e:00:01:02", "g", [("s1", "10.0.1.2")], owner=snat,
                   device_id=R),
            s.port(SNAT2, s.NET2, "fa:16:3e:00:02:02", "g", [("s2", "10.0.2.2")], owner=snat,
                   device_id=R),
        ]  # fmt: skip
    scope = {"ipv4_address_scope": SCOPE} if scoped else {}
    router = {
        "id": R, "admin_state_up": True, "distributed": distributed, "ha": False,
        "kumo_gateway_hosts": ["g"],
        "external_gateway_info": {"network_id": EXT, "enable_snat": True,
                                  "external_fixed_ips": [{"subnet_id": "sx",
                                                          "ip_address": "203.0.113.10"}]},
        "routes": [], "kumo_ports": s.router_ports(R, ports),
        "kumo_distributed_snat": leases,
        "kumo_snat_leases": [{"host": "c1", "external_ip": "203.0.113.10",
                              "port_range": "1024:1087"}] if leases else [],
    }  # fmt: skip
    agents = [
        s.agent(h, ip, bridge_mappings={"external": "eth1"}, underlay_device="eth0")
        for h, ip in TUNNEL.items()
    ]
    return ClusterView.from_bodies(
        [s.network(s.NET1, seg=101, **scope), s.network(s.NET2, seg=102),
         s.network(EXT, kind="flat", seg=None, **{"provider:physical_network": "external"},
                   **scope)],
        [s.subnet("s1", s.NET1, "10.0.1.0/24", "10.0.1.1"),
         s.subnet("s2", s.NET2, "10.0.2.0/24", "10.0.2.1"),
         s.subnet("sx", EXT, "203.0.113.0/24", "203.0.113.1")],
        ports, agents, (), [router], (),
    )  # fmt: skip


def nat(host: str, ns: str, v: ClusterView) -> NatTable:
    return next(t for t in compile_host(host, v).nat if t.netns == ns)


def test_the_gateway_does_not_translate_subnets_in_the_external_scope() -> None:
    ns = n.snat_netns("g", R)
    table = nat("g", ns, view())
    assert table.no_snat == ("10.0.1.0/24",)
    rendered = [r["add"]["rule"]["expr"] for r in nat_ruleset(table) if "rule" in r.get("add", {})]
    accept = next(i for i, e in enumerate(rendered) if {"accept": None} in e)
    snat = next(i for i, e in enumerate(rendered) if any("snat" in x for x in e))
    assert accept < snat  # the exemption comes before the router-wide SNAT
    assert rendered[accept][1]["match"]["right"] == {"prefix": {"addr": "10.0.1.0", "len": 24}}
    # no scope on the external network (or on the subnet's): everything translated
    assert nat("g", ns, view(scoped=False)).no_snat == ()


def test_a_centralized_router_does_not_translate_them_either() -> None:
    ns = n.router_netns("g", R)
    assert nat("g", ns, view(distributed=False)).no_snat == ("10.0.1.0/24",)
    assert nat("g", ns, view(distributed=False, scoped=False)).no_snat == ()


def test_leased_blocks_translate_only_instances_outside_the_scope() -> None:
    ns = n.router_netns("c1", R)
    sources = {x.src for x in nat("c1", ns, view(leases=True)).snat}
    assert sources == {"10.0.2.12/32"}
    sources = {x.src for x in nat("c1", ns, view(leases=True, scoped=False)).snat}
    assert sources == {"10.0.1.11/32", "10.0.2.12/32"}
