"""MeterTable → nftables JSON for one router namespace. Pure.

One table ``inet kumo_meter`` with a filter chain on the forward hook
(after the floating IPs' DNAT, before any SNAT: addresses are the
instances' fixed IPs, as Neutron counts them). Packets entering by an
external leg go to ``ingress``, packets leaving by one to ``egress``;
each holds a jump per label to the label's chain of that direction
(``i<n>``/``e<n>``): its excluded rules return first, then the first
counting rule that matches adds the packet to the label's named counter
and returns, so a label counts a packet at most once. An empty
``fp4_<digest>`` set records what was written.
"""

from __future__ import annotations

from kumo.compiler.plan import LabelMeter, MeterRule, MeterTable
from kumo.dataplane.nftables.render import FINGERPRINT_PREFIX, Json, address

TABLE = "kumo_meter"
FAMILY = "inet"


def fingerprint(table: MeterTable) -> str:
    return FINGERPRINT_PREFIX + table.fingerprint()


def _add(kind: str, **body: object) -> Json:
    return {"add": {kind: {"family": FAMILY, "table": TABLE, **body}}}


def _match(left: Json, right: object) -> Json:
    return {"match": {"op": "==", "left": left, "right": right}}


def _legs(ifnames: tuple[str, ...]) -> object:
    return ifnames[0] if len(ifnames) == 1 else {"set": list(ifnames)}


def rule_match(rule: MeterRule) -> list[Json]:
    """The expressions matching one rule's addresses."""
    proto = "ip6" if rule.family == 6 else "ip"
    out: list[Json] = []
    for field, prefix in (("saddr", rule.source), ("daddr", rule.destination)):
        if prefix is not None:
            out.append(_match({"payload": {"protocol": proto, "field": field}}, address(prefix)))
    if not out:
        out.append(_match({"meta": {"key": "nfproto"}}, "ipv6" if rule.family == 6 else "ipv4"))
    return out


def _label_chain(name: str, label: LabelMeter, direction: str) -> list[Json]:
    out = [_add("chain", name=name)]
    for rule in label.rules:
        if rule.direction != direction:
            continue
        verdict: list[Json] = (
            [{"return": None}] if rule.excluded else [{"counter": label.counter}, {"return": None}]
        )
        out.append(_add("rule", chain=name, expr=[*rule_match(rule), *verdict]))
    return out


def meter_ruleset(table: MeterTable) -> list[Json]:
    ident = {"family": FAMILY, "name": TABLE}
    out: list[Json] = [{"add": {"table": ident}}, {"delete": {"table": ident}}]
    out.append({"add": {"table": ident}})
    out.append(_add("set", name=fingerprint(table), type="ipv4_addr"))
    out.append(_add("chain", name="count", type="filter", hook="forward", prio=0, policy="accept"))
    for direction in ("ingress", "egress"):
        out.append(_add("chain", name=direction))
    legs = _legs(table.ifnames)
    out.append(_add("rule", chain="count", expr=[
        _match({"meta": {"key": "iifname"}}, legs), {"jump": {"target": "ingress"}}]))  # fmt: skip
    out.append(_add("rule", chain="count", expr=[
        _match({"meta": {"key": "oifname"}}, legs), {"jump": {"target": "egress"}}]))  # fmt: skip
    for i, label in enumerate(table.labels):
        out.append(_add("counter", name=label.counter))
        for direction, prefix in (("ingress", "i"), ("egress", "e")):
            if not any(r.direction == direction for r in label.rules):
                continue
            chain = f"{prefix}{i}"
            out += _label_chain(chain, label, direction)
            out.append(_add("rule", chain=direction, expr=[{"jump": {"target": chain}}]))
    return out


def remove_ruleset() -> list[Json]:
    ident = {"family": FAMILY, "name": TABLE}
    return [{"add": {"table": ident}}, {"delete": {"table": ident}}]
