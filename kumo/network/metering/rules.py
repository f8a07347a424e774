"""Metering label rules: create, show, delete (no update, as in Neutron).

A rule names the traffic of one direction that its label counts, or with
``excluded`` does not count: either ``remote_ip_prefix`` (the far end:
the source of ``ingress`` traffic, the destination of ``egress``) or
``source_ip_prefix`` and/or ``destination_ip_prefix``
(``metering_source_and_destination_fields``), never both kinds. Two rules
of a label with the same direction and ``excluded`` whose prefixes
overlap are a conflict (409 ``MeteringLabelRuleOverlaps``).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.context import RequestContext
from kumo.db.metering_models import MeteringLabel, MeteringLabelRule
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest, Conflict, InvalidInput, NotFound, shown
from kumo.network import validate
from kumo.network.metering import labels
from kumo.policy import allowed, authorize

CREATE = {
    "metering_label_id", "direction", "excluded", "remote_ip_prefix", "source_ip_prefix",
    "destination_ip_prefix", "project_id", "tenant_id",
}  # fmt: skip
DIRECTIONS = ("ingress", "egress")
PREFIXES = ("remote_ip_prefix", "source_ip_prefix", "destination_ip_prefix")


def not_found(rule_id: str) -> NotFound:
    return NotFound(
        f"Metering label rule {rule_id} does not exist", kind="MeteringLabelRuleNotFound"
    )


def view(row: MeteringLabelRule) -> dict[str, Any]:
    return {
        "id": row.id,
        "metering_label_id": row.label_id,
        "direction": row.direction,
        "excluded": bool(row.excluded),
        "remote_ip_prefix": row.remote_ip_prefix,
        "source_ip_prefix": row.source_ip_prefix,
        "destination_ip_prefix": row.destination_ip_prefix,
    }


ATTRIBUTES = frozenset(view(MeteringLabelRule(id="", label_id="", direction="")))


def load(session: Session, ctx: RequestContext, rule_id: str) -> MeteringLabelRule:
    row = session.get(MeteringLabelRule, rule_id)
    if row is None:
        raise not_found(rule_id)
    label = session.get(MeteringLabel, row.label_id)
    if label is None or not allowed(ctx, "network:get_metering_label_rule", labels.target(label)):
        raise not_found(rule_id)
    return row


def _prefix(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"'{shown(value)}' is not a valid IP subnet")
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError as exc:
        raise InvalidInput(f"'{shown(value)}' is not a valid IP subnet") from exc


def _net(value: str | None) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    return None if value is None else ipaddress.ip_network(value)


def _overlap(a: str | None, b: str | None) -> bool:
    """Two prefixes of a rule overlap; an absent one matches everything."""
    x, y = _net(a), _net(b)
    if x is None or y is None:
        return True
    return x.version == y.version and x.overlaps(y)


def create(uow: UnitOfWork, ctx: RequestContext, body: dict[str, Any]) -> MeteringLabelRule:
    validate.known(body, CREATE)
    s = uow.session
    if body.get("metering_label_id") is None:
        raise BadRequest("Failed to parse request. Required attribute 'metering_label_id' "
                         "not specified")  # fmt: skip
    if body.get("direction") is None:
        raise BadRequest("Failed to parse request. Required attribute 'direction' not specified")
    direction = body["direction"]
    if direction not in DIRECTIONS:
        raise InvalidInput(f"{shown(direction)} is not in {list(DIRECTIONS)}")
    excluded = validate.boolean(body, "excluded") if body.get("excluded") is not None else False
    remote, source, dest = (_prefix(body, k) for k in PREFIXES)
    if remote is not None and (source is not None or dest is not None):
        raise BadRequest(
            "A metering label rule takes either remote_ip_prefix or "
            "source_ip_prefix/destination_ip_prefix, not both."
        )
    if remote is None and source is None and dest is None:
        raise BadRequest(
            "A metering label rule needs remote_ip_prefix, source_ip_prefix or "
            "destination_ip_prefix."
        )
    if source is not None and dest is not None and _net(source).version != _net(dest).version:  # type: ignore[union-attr]
        raise BadRequest("source_ip_prefix and destination_ip_prefix are of different IP versions.")
    label_id = str(body["metering_label_id"])
    label = s.get(MeteringLabel, label_id)
    if label is None or not allowed(ctx, "network:get_metering_label", labels.target(label)):
        raise labels.not_found(label_id)
    authorize(ctx, "network:create_metering_label_rule", labels.target(label))
    siblings = s.scalars(
        select(MeteringLabelRule).where(
            MeteringLabelRule.label_id == label.id,
            MeteringLabelRule.direction == direction,
            MeteringLabelRule.excluded == excluded,
        )
    )
    for other in siblings:
        if remote is not None and other.remote_ip_prefix is not None:
            clash = _overlap(remote, other.remote_ip_prefix)
        elif remote is None and other.remote_ip_prefix is None:
            clash = (source, dest) == (other.source_ip_prefix, other.destination_ip_prefix)
        else:
            clash = False
        if clash:
            shown_prefix = remote or f"{source or 'any'} -> {dest or 'any'}"
            raise Conflict(
                f"Metering label rule with {shown_prefix} overlaps rule {other.id} of "
                f"metering label {label.id}.",
                kind="MeteringLabelRuleOverlaps",
            )
    row = MeteringLabelRule(
        label_id=label.id,
        direction=direction,
        excluded=excluded,
        remote_ip_prefix=remote,
        source_ip_prefix=source,
        destination_ip_prefix=dest,
    )
    s.add(row)
    s.flush()
    return row


def remove(uow: UnitOfWork, ctx: RequestContext, rule_id: str) -> MeteringLabelRule:
    s = uow.session
    row = load(s, ctx, rule_id)
    label = s.get(MeteringLabel, row.label_id)
    assert label is not None
    authorize(ctx, "network:delete_metering_label_rule", labels.target(label))
    s.delete(row)
    s.flush()
    return row


def rules_of(session: Session, label_ids: list[str]) -> dict[str, list[MeteringLabelRule]]:
    out: dict[str, list[MeteringLabelRule]] = {i: [] for i in label_ids}
    if label_ids:
        q = select(MeteringLabelRule).where(MeteringLabelRule.label_id.in_(label_ids))
        for r in session.scalars(q.order_by(MeteringLabelRule.created_at, MeteringLabelRule.id)):
            out[r.label_id].append(r)
    return out
