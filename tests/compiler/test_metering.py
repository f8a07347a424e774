"""Metering in the compiler: a label applies to its project's routers (a
shared one to every router), on each namespace of the host where the
router's traffic crosses its external side, with Neutron's directions."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType
from typing import Any

from kumo.compiler import ClusterView, compile_host
from kumo.compiler import names as n
from kumo.compiler.metering import counter_name, label_of_counter, meter_rule
from kumo.compiler.model import MeteringLabelView, MeteringRuleView
from kumo.compiler.plan import MeterRule
from tests.compiler.test_address_scopes import R
from tests.compiler.test_address_scopes import view as routed

L1 = "11111111-0000-4000-8000-000000000001"
L2 = "22222222-0000-4000-8000-000000000002"
L3 = "33333333-0000-4000-8000-000000000003"


def label(ident: str, project: str, rules: list[dict[str, Any]], shared: bool = False) -> Any:
    return MeteringLabelView.from_body(
        {"id": ident, "project_id": project, "shared": shared, "rules": rules}
    )


def view(labels: list[MeteringLabelView], **kw: Any) -> ClusterView:
    base = routed(**kw)
    router = dataclasses.replace(base.routers[R], project_id="pa")
    return dataclasses.replace(
        base,
        routers=MappingProxyType({R: router}),
        metering_labels=MappingProxyType({x.id: x for x in labels}),
    )


EGRESS = {"direction": "egress", "remote_ip_prefix": "0.0.0.0/0"}
EXCLUDED = {"direction": "egress", "remote_ip_prefix": "198.51.100.0/24", "excluded": True}


def test_directions_and_prefixes_as_neutron_has_them() -> None:
    rule = MeteringRuleView.from_body
    assert meter_rule(rule({"direction": "egress", "remote_ip_prefix": "8.8.8.0/24"})) == (
        MeterRule("egress", False, 4, None, "8.8.8.0/24")
    )
    assert meter_rule(rule({"direction": "ingress", "remote_ip_prefix": "8.8.8.0/24"})) == (
        MeterRule("ingress", False, 4, "8.8.8.0/24", None)
    )
    both = rule({"direction": "ingress", "source_ip_prefix": "2001:db8::/32",
                 "destination_ip_prefix": "2001:db8:1::/48", "excluded": True})  # fmt: skip
    assert meter_rule(both) == MeterRule("ingress", True, 6, "2001:db8::/32", "2001:db8:1::/48")
    assert label_of_counter(counter_name(L1)) == L1


def test_labels_apply_where_the_router_meets_the_outside() -> None:
    mine = label(L1, "pa", [EGRESS, EXCLUDED])
    shared = label(L2, "pb", [{"direction": "ingress", "remote_ip_prefix": "0.0.0.0/0"}], True)
    other = label(L3, "pb", [EGRESS])
    # the gateway host: the SNAT namespace's gateway leg
    meters = compile_host("g", view([mine, shared, other])).meters
    (table,) = meters
    assert table.netns == n.snat_netns("g", R) and table.router_id == R
    assert [x.label_id for x in table.labels] == [L1, L2]
    assert table.ifnames == (n.router_gw_name(next(
        p for p in routed().ports.values() if p.device_owner == "network:router_gateway").id),)  # fmt: skip
    # the excluded rule first
    assert [r.excluded for r in table.labels[0].rules] == [True, False]
    # the compute host has no external leg (no floating IP, no block): nothing there
    assert compile_host("c1", view([mine])).meters == frozenset()
    # with a leased SNAT block it translates its instances itself: metered there
    (dvr,) = compile_host("c1", view([mine], leases=True)).meters
    assert dvr.netns == n.router_netns("c1", R)
    assert dvr.ifnames == (n.router_gw_name(R),)
    # a centralized router: its namespace on the gateway host
    (legacy,) = compile_host("g", view([mine], distributed=False)).meters
    assert legacy.netns == n.router_netns("g", R)
    # no label of the router's project, no shared one: no table
    assert compile_host("g", view([other])).meters == frozenset()
    assert "meter " in "\n".join(compile_host("g", view([mine])).describe())


def test_order_of_labels_does_not_matter() -> None:
    a, b = label(L1, "pa", [EGRESS]), label(L2, "pa", [EXCLUDED, EGRESS])
    assert compile_host("g", view([a, b])).meters == compile_host("g", view([b, a])).meters
