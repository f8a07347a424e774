"""The firewall part of the compiler: port filters, rules, sets and zones."""

from __future__ import annotations

import random
from typing import Any

import pytest

from kumo.compiler import ClusterView, compile_host
from kumo.compiler.firewall import (
    MAX_FILTERED_PORTS,
    conntrack_zone,
    home_index,
    link_local,
    port_indices,
)
from kumo.compiler.model import NetworkView, RuleView, protocol_number
from kumo.compiler.plan import FirewallRule, SpoofPair
from tests.compiler import states as s

G1 = "91000000-0000-4000-8000-000000000001"
G2 = "92000000-0000-4000-8000-000000000002"


def rule(rid: str, direction: str = "ingress", **extra: Any) -> dict[str, Any]:
    return {"id": rid, "direction": direction, "ethertype": "IPv4", **extra}


def view(ports: list[dict[str, Any]], groups: list[dict[str, Any]]) -> ClusterView:
    return ClusterView.from_bodies(
        [s.network(s.NET1, seg=101)],
        [s.subnet("s1", s.NET1, "10.0.0.0/24", "10.0.0.1")],
        ports,
        s.AGENTS,
        groups,
    )


def secured(pid: str, mac: str, host: str, ip: str, groups: list[str], **extra: Any) -> Any:
    return s.port(pid, s.NET1, mac, host, [("s1", ip)], port_security_enabled=True,
                  security_groups=groups, **extra)  # fmt: skip


def test_port_without_security_has_no_filter_and_secured_port_needs_the_firewall() -> None:
    v = view(
        [
            s.port(s.P1, s.NET1, "fa:16:3e:00:00:01", "host-a", [("s1", "10.0.0.11")]),
            secured(s.P2, "fa:16:3e:00:00:02", "host-a", "10.0.0.12", []),
        ],
        [],
    )
    plan = compile_host("host-a", v)
    assert [f.port_id for f in plan.firewall.ports] == [s.P2]
    wiring = {w.port_id: w.requires for w in plan.wiring}
    assert plan.firewall.key in wiring[s.P2] and plan.firewall.key not in wiring[s.P1]
    assert plan.firewall.zones == (("kb1f0e2d3c4b5", 101),)


def test_rules_are_normalised_and_deduplicated() -> None:
    group = {
        "id": G1,
        "security_group_rules": [
            rule("a", protocol="tcp", port_range_min=22, port_range_max=22,
                 remote_ip_prefix="10.1.2.3/16"),
            rule("b", protocol="6", port_range_min=22, port_range_max=22,
                 remote_ip_prefix="10.1.0.0/16"),
            rule("c", "egress", ethertype="IPv6", protocol="icmp", port_range_min=128),
            rule("d", protocol="udp", port_range_min=1, port_range_max=65535,
                 remote_ip_prefix="0.0.0.0/0"),
        ],
    }  # fmt: skip
    plan = compile_host(
        "host-a", view([secured(s.P1, "fa:16:3e:00:00:01", "host-a", "10.0.0.11", [G1])], [group])
    )
    (port,) = plan.firewall.ports
    assert set(port.rules) == {
        FirewallRule("ingress", 4, 6, 22, 22, remote="10.1.0.0/16"),
        FirewallRule("egress", 6, 58, icmp_type=128),
        FirewallRule("ingress", 4, 17),
    }
    assert SpoofPair("fa:16:3e:00:00:01", "10.0.0.11/32") in port.pairs
    assert SpoofPair("fa:16:3e:00:00:01", "fe80::f816:3eff:fe00:1/128") in port.pairs


def test_remote_group_becomes_a_set_of_every_member_address() -> None:
    groups = [
        {"id": G1, "security_group_rules": [rule("a", remote_group_id=G2)]},
        {"id": G2, "security_group_rules": []},
    ]
    ports = [
        secured(s.P1, "fa:16:3e:00:00:01", "host-a", "10.0.0.11", [G1]),
        secured(s.P2, "fa:16:3e:00:00:02", "host-b", "10.0.0.12", [G2],
                allowed_address_pairs=[{"ip_address": "10.0.9.0/24"}]),
        secured(s.P3, "fa:16:3e:00:00:03", "host-c", "10.0.0.13", [G2]),
    ]  # fmt: skip
    plan = compile_host("host-a", view(ports, groups))
    (members,) = plan.firewall.sets
    assert members.name == f"g4_{G2}" and members.family == 4
    assert members.elements == {"10.0.0.12", "10.0.0.13", "10.0.9.0/24"}
    (port,) = plan.firewall.ports
    assert port.rules == (FirewallRule("ingress", 4, remote=f"@g4_{G2}"),)

    # a member leaving changes the set, not the structure
    moved = [ports[0], ports[1], {**ports[2], "security_groups": []}]
    after = compile_host("host-a", view(moved, groups))
    assert after.firewall.structure() == plan.firewall.structure()
    assert after.firewall.sets[0].elements == {"10.0.0.12", "10.0.9.0/24"}
    # a rule change changes the structure
    groups2 = [{**groups[0], "security_group_rules": [rule("a", protocol="tcp")]}, groups[1]]
    assert compile_host("host-a", view(ports, groups2)).firewall.structure() != (
        plan.firewall.structure()
    )


AG = "93000000-0000-4000-8000-000000000003"


def test_address_group_becomes_a_set_of_its_cidrs_per_family() -> None:
    listed = ["10.9.0.0/24", "10.9.1.7/32", "2001:db8::/64", "10.9.0.128/25"]
    groups = [{"id": G1, "security_group_rules": [
        rule("a", protocol="tcp", port_range_min=22, port_range_max=22,
             remote_address_group_id=AG, kumo_remote_addresses=listed),
        {**rule("b", remote_address_group_id=AG, kumo_remote_addresses=listed),
         "ethertype": "IPv6"},
    ]}]  # fmt: skip
    ports = [secured(s.P1, "fa:16:3e:00:00:01", "host-a", "10.0.0.11", [G1])]
    plan = compile_host("host-a", view(ports, groups))
    sets = {x.name: x for x in plan.firewall.sets}
    # the /25 lies inside the /24: interval sets refuse overlaps, the wider one stays
    assert sets[f"a4_{AG}"].elements == {"10.9.0.0/24", "10.9.1.7"}
    assert sets[f"a6_{AG}"].elements == {"2001:db8::/64"}
    (port,) = plan.firewall.ports
    assert FirewallRule("ingress", 4, 6, 22, 22, remote=f"@a4_{AG}") in port.rules
    assert FirewallRule("ingress", 6, remote=f"@a6_{AG}") in port.rules
    # new addresses change the set, not the structure
    more = [{"id": G1, "security_group_rules": [
        {**r, "kumo_remote_addresses": [*listed, "192.0.2.9"]}
        for r in groups[0]["security_group_rules"]]}]  # fmt: skip
    after = compile_host("host-a", view(ports, more))
    assert after.firewall.structure() == plan.firewall.structure()
    assert "192.0.2.9" in {x.name: x for x in after.firewall.sets}[f"a4_{AG}"].elements


def test_pairs_include_address_pairs_with_their_mac() -> None:
    port = secured(s.P1, "fa:16:3e:00:00:01", "host-a", "10.0.0.11", [], allowed_address_pairs=[
        {"ip_address": "10.0.0.100"}, {"ip_address": "10.0.5.0/24", "mac_address": "FA:16:3E:AA:BB:CC"}
    ])  # fmt: skip
    (f,) = compile_host("host-a", view([port], [])).firewall.ports
    assert SpoofPair("fa:16:3e:00:00:01", "10.0.0.100/32") in f.pairs
    assert SpoofPair("fa:16:3e:aa:bb:cc", "10.0.5.0/24") in f.pairs


def test_zones_are_unique_per_segment() -> None:
    vx = NetworkView("n1", "vxlan", 1001, None, 1450, True)
    vlan = NetworkView("n2", "vlan", 1001, "physnet1", 1500, True)
    flat1 = NetworkView("n3", "flat", None, "physnet1", 1500, True)
    flat2 = NetworkView("n4", "flat", None, "external", 1500, True)
    physnets = ["external", "physnet1"]
    zones = [conntrack_zone(n, physnets) for n in (vx, vlan, flat1, flat2)]
    assert zones == [1001, 0xF000 + 1001, 0xFFFE, 0xFFFF]
    assert len(set(zones)) == 4


@pytest.mark.parametrize(
    ("protocol", "ethertype", "number"),
    [(None, 4, None), ("any", 4, None), ("tcp", 4, 6), ("17", 4, 17), ("icmp", 6, 58),
     ("ipv6-icmp", 6, 58), ("icmp", 4, 1), ("1", 6, 58)],
)  # fmt: skip
def test_protocol_numbers(protocol: str | None, ethertype: int, number: int | None) -> None:
    assert protocol_number(protocol, ethertype) == number


def test_bad_rule_bodies_are_skipped() -> None:
    with pytest.raises(ValueError):
        RuleView.from_body({"id": "x", "direction": "sideways"})
    v = ClusterView.from_bodies(
        security_groups=[{"id": G1, "security_group_rules": [{"id": "x", "direction": "up"}]}]
    )
    assert v.invalid == (f"security_group:{G1}",)


def test_link_local_from_mac() -> None:
    assert link_local("fa:16:3e:00:00:01") == "fe80::f816:3eff:fe00:1/128"


def test_member_addresses_covered_by_a_wider_pair_are_left_out() -> None:
    groups = [
        {"id": G1, "security_group_rules": [rule("a", remote_group_id=G2)]},
        {"id": G2, "security_group_rules": []},
    ]
    ports = [
        secured(s.P1, "fa:16:3e:00:00:01", "host-a", "10.0.0.11", [G1]),
        secured(s.P2, "fa:16:3e:00:00:02", "host-b", "10.0.9.12", [G2],
                allowed_address_pairs=[{"ip_address": "10.0.8.0/23"},
                                       {"ip_address": "10.0.9.0/24"},
                                       {"ip_address": "10.0.10.0/24"}]),
        secured(s.P3, "fa:16:3e:00:00:03", "host-c", "10.0.8.13", [G2]),
        secured(s.P4, "fa:16:3e:00:00:04", "host-c", "10.0.11.1", [G2]),
    ]  # fmt: skip
    (members,) = compile_host("host-a", view(ports, groups)).firewall.sets
    assert members.elements == {"10.0.8.0/23", "10.0.10.0/24", "10.0.11.1"}


def test_port_indices_are_stable_unique_and_order_independent() -> None:
    ids = [f"{i:08x}-0000-4000-8000-000000000000" for i in range(1000)]
    indices = port_indices(ids)
    assert len(set(indices.values())) == len(ids)
    assert all(1 <= i <= MAX_FILTERED_PORTS for i in indices.values())
    shuffled = ids[:]
    random.Random(7).shuffle(shuffled)
    assert port_indices(shuffled) == indices
    # a port joining moves at most the few ports whose probe ran over its slot
    grown = port_indices([*ids, "ffffffff-0000-4000-8000-000000000000"])
    moved = [p for p in ids if grown[p] != indices[p]]
    assert len(moved) <= 3
    # a collision takes the next free index, whoever sorts first keeps its home
    twin = next(
        f"{i:08x}-1111-4000-8000-000000000000"
        for i in range(200000)
        if home_index(f"{i:08x}-1111-4000-8000-000000000000") == home_index(ids[0])
    )
    both = port_indices([ids[0], twin])
    assert sorted(both.values()) == sorted(
        {home_index(ids[0]), home_index(ids[0]) % MAX_FILTERED_PORTS + 1}
    )
