"""compile_metering: the metering labels on this host's router namespaces. Pure.

A label applies to every router of its project, a shared label to every
router. It is counted in each namespace of this host where the router's
traffic crosses its external side: the namespaces with an external leg
(``names.router_gw_name``), found among the links the router stage
compiled — a distributed router's namespace on a host with floating IPs
or SNAT blocks, its SNAT namespace on a gateway host, a centralized
router on its gateway host. A packet crosses one external leg on its way,
so summing a label over the hosts counts it once.

Directions are the router's, as Neutron's: ``egress`` leaves through the
external leg, ``ingress`` enters by it; ``remote_ip_prefix`` is the far
end (the destination of egress traffic, the source of ingress traffic).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from kumo.compiler import names
from kumo.compiler.model import ClusterView, MeteringLabelView, MeteringRuleView
from kumo.compiler.plan import LabelMeter, Link, MeterRule, MeterTable


def counter_name(label_id: str) -> str:
    """The named counter of a label in a router namespace's table."""
    return "m_" + label_id.replace("-", "_")


def label_of_counter(name: str) -> str | None:
    """The label id a counter name stands for (ids are UUIDs), or None."""
    if not name.startswith("m_"):
        return None
    raw = name[2:]
    if len(raw) == 36 and raw.count("_") == 4:
        return raw.replace("_", "-")
    return raw


def meter_rule(rule: MeteringRuleView) -> MeterRule:
    source, destination = rule.source_ip_prefix, rule.destination_ip_prefix
    if rule.remote_ip_prefix is not None:
        if rule.direction == "egress":
            source, destination = None, rule.remote_ip_prefix
        else:
            source, destination = rule.remote_ip_prefix, None
    given = source or destination
    family = 6 if given is not None and ipaddress.ip_network(given).version == 6 else 4
    if rule.direction == "egress":
        return MeterRule("egress", rule.excluded, family, source, destination)
    return MeterRule("ingress", rule.excluded, family, source, destination)


def label_meter(label: MeteringLabelView) -> LabelMeter:
    rules = sorted({meter_rule(r) for r in label.rules}, key=lambda r: (not r.excluded, r))
    return LabelMeter(label.id, counter_name(label.id), tuple(rules))


def labels_for(view: ClusterView, project_id: str) -> tuple[LabelMeter, ...]:
    """The labels that apply to a router of ``project_id``."""
    return tuple(
        label_meter(label)
        for label in sorted(view.metering_labels.values(), key=lambda x: x.id)
        if label.shared or label.project_id == project_id
    )


def compile_metering(host: str, view: ClusterView, links: Iterable[Link]) -> frozenset[MeterTable]:
    """A table per router namespace of ``host`` with an external leg among
    ``links`` and at least one label applying to its router."""
    if not view.metering_labels:
        return frozenset()
    legs: dict[str, list[str]] = {}
    for link in links:
        if link.name.startswith(names.ROUTER_GW_PREFIX) and names.is_router_netns(link.netns, host):
            legs.setdefault(link.netns, []).append(link.name)
    out = set()
    for netns, ifnames in legs.items():
        router_id = names.router_of_netns(netns)
        router = view.routers.get(router_id or "")
        if router is None:
            continue
        found = labels_for(view, router.project_id)
        if found:
            out.add(MeterTable(netns, router.id, tuple(sorted(ifnames)), found))
    return frozenset(out)
