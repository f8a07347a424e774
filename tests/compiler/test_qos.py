"""compile_qos: a local port's policy rules become limits and a mark on its device."""

from __future__ import annotations

from typing import Any

from kumo.compiler import ClusterView, compile_host, names
from kumo.compiler.plan import PortQos
from tests.compiler import states as s

BW_OUT = {"type": "bandwidth_limit", "direction": "egress", "max_kbps": 10000, "max_burst_kbps": 0}
BW_IN = {"type": "bandwidth_limit", "direction": "ingress", "max_kbps": 2000,
         "max_burst_kbps": 400}  # fmt: skip
DSCP = {"type": "dscp_marking", "dscp_mark": 26}


def view(
    rules: list[dict[str, Any]], *, host: str = "host-a", owner: str = "compute:nova"
) -> ClusterView:
    ports = [
        s.port(s.P1, s.NET1, "fa:16:3e:00:00:01", host, [("s1", "10.0.0.11")], owner=owner,
               kumo_qos_rules=rules),
        s.port(s.P2, s.NET1, "fa:16:3e:00:00:02", "host-a", [("s1", "10.0.0.12")]),
    ]  # fmt: skip
    return ClusterView.from_bodies(
        [s.network(s.NET1, seg=101)],
        [s.subnet("s1", s.NET1, "10.0.0.0/24", "10.0.0.1")],
        ports,
        s.AGENTS,
        [],
    )


def test_limits_in_bytes_with_neutrons_default_burst_and_the_mark() -> None:
    plan = compile_host("host-a", view([BW_OUT, BW_IN, DSCP]))
    assert plan.qos.ports == (
        PortQos(names.tap_name(s.P1), (1_250_000, 1_000_000), (250_000, 50_000), 26),
    )
    assert f"qos {names.tap_name(s.P1)} egress 1250000B/s burst 1000000B " \
        "ingress 250000B/s burst 50000B dscp 26" in plan.describe()  # fmt: skip


def test_nothing_for_other_hosts_ports_unplugged_owners_or_empty_policies() -> None:
    assert compile_host("host-a", view([BW_OUT], host="host-b")).qos.empty
    assert compile_host("host-a", view([BW_OUT], owner="network:dhcp")).qos.empty
    assert compile_host("host-a", view([])).qos.empty
    zero = {**BW_OUT, "max_kbps": 0}
    assert compile_host("host-a", view([zero])).qos.empty


def test_the_plan_does_not_depend_on_rule_order() -> None:
    one = compile_host("host-a", view([BW_OUT, DSCP, BW_IN])).qos
    two = compile_host("host-a", view([DSCP, BW_IN, BW_OUT])).qos
    assert one == two and one.fingerprint() == two.fingerprint()


PPS_OUT = {"type": "packet_rate_limit", "direction": "egress", "max_kpps": 5, "max_burst_kpps": 0}
PPS_IN = {"type": "packet_rate_limit", "direction": "ingress", "max_kpps": 2, "max_burst_kpps": 1}


def test_packet_rates_per_second_with_a_tenth_of_a_second_default_burst() -> None:
    plan = compile_host("host-a", view([PPS_OUT, PPS_IN, BW_OUT]))
    assert plan.qos.ports == (
        PortQos(names.tap_name(s.P1), (1_250_000, 1_000_000), None, None, (5000, 500),
                (2000, 1000)),
    )  # fmt: skip
    assert f"qos {names.tap_name(s.P1)} egress 1250000B/s burst 1000000B egress 5000pkt/s " \
        "burst 500pkt ingress 2000pkt/s burst 1000pkt" in plan.describe()  # fmt: skip
    assert compile_host("host-a", view([{**PPS_OUT, "max_kpps": 0}])).qos.empty


def test_packet_rate_limits_in_the_script() -> None:
    from kumo.dataplane.nftables.qos import qos_script

    tap = names.tap_name(s.P1)
    script = qos_script(compile_host("host-a", view([PPS_OUT, PPS_IN])).qos)
    assert f"add rule bridge kumo_qos from_{tap} limit rate over 5000/second burst 500 " \
        "packets drop" in script  # fmt: skip
    assert f"add rule bridge kumo_qos to_{tap} limit rate over 2000/second burst 1000 " \
        "packets drop" in script  # fmt: skip
    assert f'iifname vmap {{ "{tap}" : jump from_{tap} }}' in script
    assert f'oifname vmap {{ "{tap}" : jump to_{tap} }}' in script


def _with_fip(rules: list[dict[str, Any]], *, distributed: bool = True) -> ClusterView:
    import dataclasses
    from types import MappingProxyType

    from kumo.compiler.model import FloatingIpView
    from tests.compiler.test_address_scopes import EXT, R
    from tests.compiler.test_address_scopes import view as routed

    fip = FloatingIpView.from_body({
        "id": "f1", "floating_ip_address": "203.0.113.50", "floating_network_id": EXT,
        "router_id": R, "port_id": s.P1, "fixed_ip_address": "10.0.1.11",
        "kumo_qos_rules": rules})  # fmt: skip
    base = routed(distributed=distributed, scoped=False)
    return dataclasses.replace(base, floatingips=MappingProxyType({"f1": fip}))


def test_a_floating_ips_limits_where_it_is_translated() -> None:
    from kumo.compiler.plan import NatLimit
    from kumo.dataplane.nftables.nat import fingerprint, nat_ruleset
    from tests.compiler.test_address_scopes import R, nat

    rules = [BW_OUT, BW_IN, DSCP, PPS_OUT]
    dvr = nat("c1", names.router_netns("c1", R), _with_fip(rules))
    leg = names.router_gw_name(R)
    assert dvr.limits == (
        NatLimit(leg, "203.0.113.50", "egress", 1_250_000, 1_000_000),
        NatLimit(leg, "203.0.113.50", "ingress", 250_000, 50_000),
    )
    rendered = [r["add"]["rule"] for r in nat_ruleset(dvr) if "rule" in r.get("add", {})]
    limited = [(r["chain"], r["expr"][1]["match"]["right"]) for r in rendered
               if any("limit" in x for x in r["expr"])]  # fmt: skip
    assert limited == [("limit_out", "203.0.113.50"), ("limit_in", "203.0.113.50")]
    plain = nat("c1", names.router_netns("c1", R), _with_fip([]))
    assert plain.limits == () and fingerprint(plain) != fingerprint(dvr)
    # a centralized router translates it on its gateway host, on the gateway's leg
    legacy = nat("g", names.router_netns("g", R), _with_fip(rules, distributed=False))
    assert {x.direction for x in legacy.limits} == {"egress", "ingress"}


def test_a_router_gateways_limits_where_its_snat_is_translated() -> None:
    import dataclasses
    from types import MappingProxyType

    from kumo.compiler.model import QosRuleView
    from kumo.compiler.plan import NatLimit
    from tests.compiler.test_address_scopes import GW, R, nat
    from tests.compiler.test_address_scopes import view as routed

    def with_policy(v: ClusterView) -> ClusterView:
        rules = tuple(sorted(QosRuleView.from_body(x) for x in (BW_OUT, BW_IN, PPS_OUT)))
        router = dataclasses.replace(v.routers[R], gateway_qos=rules)
        return dataclasses.replace(v, routers=MappingProxyType({R: router}))

    expected = (
        NatLimit(names.router_gw_name(GW), "203.0.113.10", "egress", 1_250_000, 1_000_000),
        NatLimit(names.router_gw_name(GW), "203.0.113.10", "ingress", 250_000, 50_000),
    )
    # distributed: the SNAT namespace on the gateway host; centralized: the router's own
    assert nat("g", names.snat_netns("g", R), with_policy(routed(scoped=False))).limits == expected
    legacy = with_policy(routed(distributed=False, scoped=False))
    assert nat("g", names.router_netns("g", R), legacy).limits == expected
    assert nat("g", names.snat_netns("g", R), routed(scoped=False)).limits == ()


def test_a_port_that_gains_or_loses_its_device_gains_or_loses_its_qos() -> None:
    """The same port objects, patched pass after pass: the QoS follows the
    devices the host makes, as if built whole."""
    from kumo.compiler.qos import compile_qos, whole_qos

    host = "qos-devices"
    v = view([BW_OUT], host=host)
    for devices in (frozenset({s.P1}), frozenset(), frozenset({s.P1, s.P2}), frozenset({s.P2})):
        patched = compile_qos(host, v, devices)
        assert patched == whole_qos(host, v, devices)
        assert len(patched.ports) == (s.P1 in devices)
