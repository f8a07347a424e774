"""QoS rules of a policy: bandwidth limits, packet rate limits, minimum
bandwidths and minimum packet rates (one of each per direction; a minimum
packet rate may be for ``any`` direction instead) and DSCP marks (one per policy),
with Neutron's validation and views.

Every change re-emits the ports the policy applies to
(``attach.policy_changed``), so their hosts' agents recompile the limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.context import RequestContext
from kumo.db.qos_models import QosPolicy, QosRule
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest, Conflict, InvalidInput, NotFound, shown
from kumo.network import validate
from kumo.network.core.networks import touch
from kumo.network.qos import attach, policies
from kumo.policy import authorize

BANDWIDTH_LIMIT = "bandwidth_limit"
DSCP_MARKING = "dscp_marking"
PACKET_RATE_LIMIT = "packet_rate_limit"
MINIMUM_BANDWIDTH = "minimum_bandwidth"
MINIMUM_PACKET_RATE = "minimum_packet_rate"
LIMITS = (BANDWIDTH_LIMIT, PACKET_RATE_LIMIT, MINIMUM_BANDWIDTH, MINIMUM_PACKET_RATE)
"""The rule types with a direction (``egress`` by default)."""
DIRECTIONS = ("egress", "ingress")
ANY = "any"
PPS_DIRECTIONS = (*DIRECTIONS, ANY)
"""Minimum packet rates may also be asked for both directions together (``any``)."""
VALID_DSCP_MARKS = (
    0,
    8,
    10,
    12,
    14,
    16,
    18,
    20,
    22,
    24,
    26,
    28,
    30,
    32,
    34,
    36,
    38,
    40,
    46,
    48,
    56,
)
MAX_KBPS = validate.MAX_INT


@dataclass(frozen=True)
class RuleType:
    name: str
    """``bandwidth_limit``, ``packet_rate_limit``, ``minimum_bandwidth`` or ``dscp_marking``."""
    collection: str
    """The URL segment and list key (``bandwidth_limit_rules``)."""
    member: str
    fields: tuple[str, ...]
    """Writable attributes."""
    required: str
    """The attribute a new rule must name."""


RULE_TYPES = {
    BANDWIDTH_LIMIT: RuleType(
        BANDWIDTH_LIMIT,
        "bandwidth_limit_rules",
        "bandwidth_limit_rule",
        ("max_kbps", "max_burst_kbps", "direction"),
        "max_kbps",
    ),
    DSCP_MARKING: RuleType(
        DSCP_MARKING, "dscp_marking_rules", "dscp_marking_rule", ("dscp_mark",), "dscp_mark"
    ),
    PACKET_RATE_LIMIT: RuleType(
        PACKET_RATE_LIMIT,
        "packet_rate_limit_rules",
        "packet_rate_limit_rule",
        ("max_kpps", "max_burst_kpps", "direction"),
        "max_kpps",
    ),
    MINIMUM_BANDWIDTH: RuleType(
        MINIMUM_BANDWIDTH,
        "minimum_bandwidth_rules",
        "minimum_bandwidth_rule",
        ("min_kbps", "direction"),
        "min_kbps",
    ),
    MINIMUM_PACKET_RATE: RuleType(
        MINIMUM_PACKET_RATE,
        "minimum_packet_rate_rules",
        "minimum_packet_rate_rule",
        ("min_kpps", "direction"),
        "min_kpps",
    ),
}
BY_COLLECTION = {t.collection: t for t in RULE_TYPES.values()}


def supported_parameters(rule_type: str) -> list[dict[str, Any]]:
    """What ``GET /v2.0/qos/rule-types/{type}`` lists for kumo's one driver."""
    if rule_type == MINIMUM_BANDWIDTH:
        return [
            {"parameter_name": "min_kbps", "parameter_type": "range",
             "parameter_values": {"start": 0, "end": MAX_KBPS}},
            {"parameter_name": "direction", "parameter_type": "choices",
             "parameter_values": list(DIRECTIONS)},
        ]  # fmt: skip
    if rule_type == MINIMUM_PACKET_RATE:
        return [
            {"parameter_name": "min_kpps", "parameter_type": "range",
             "parameter_values": {"start": 0, "end": MAX_KBPS}},
            {"parameter_name": "direction", "parameter_type": "choices",
             "parameter_values": list(PPS_DIRECTIONS)},
        ]  # fmt: skip
    if rule_type in LIMITS:
        span = {"start": 0, "end": MAX_KBPS}
        unit = "kbps" if rule_type == BANDWIDTH_LIMIT else "kpps"
        return [
            {"parameter_name": f"max_{unit}", "parameter_type": "range", "parameter_values": span},
            {"parameter_name": f"max_burst_{unit}", "parameter_type": "range",
             "parameter_values": span},
            {"parameter_name": "direction", "parameter_type": "choices",
             "parameter_values": list(DIRECTIONS)},
        ]  # fmt: skip
    return [
        {"parameter_name": "dscp_mark", "parameter_type": "choices",
         "parameter_values": list(VALID_DSCP_MARKS)},
    ]  # fmt: skip


def rule_not_found(rule_id: str, policy_id: str) -> NotFound:
    return NotFound(
        f"QoS rule {rule_id} for policy {policy_id} could not be found.", kind="QosRuleNotFound"
    )


def view(rule: QosRule) -> dict[str, Any]:
    """The rule as its own resource shows it."""
    out: dict[str, Any] = {"id": rule.id}
    if rule.rule_type == BANDWIDTH_LIMIT:
        out.update(
            max_kbps=rule.max_kbps, max_burst_kbps=rule.max_burst_kbps, direction=rule.direction
        )
    elif rule.rule_type == MINIMUM_BANDWIDTH:
        out.update(min_kbps=rule.min_kbps, direction=rule.direction)
    elif rule.rule_type == MINIMUM_PACKET_RATE:
        out.update(min_kpps=rule.min_kpps, direction=rule.direction)
    elif rule.rule_type == PACKET_RATE_LIMIT:
        out.update(
            max_kpps=rule.max_kpps, max_burst_kpps=rule.max_burst_kpps, direction=rule.direction
        )
    else:
        out["dscp_mark"] = rule.dscp_mark
    return out


def policy_view(rule: QosRule) -> dict[str, Any]:
    """The rule as a policy's ``rules`` list (and the agents) show it."""
    return {**view(rule), "qos_policy_id": rule.policy_id, "type": rule.rule_type}


def rules_of(session: Session, policy_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {p: [] for p in policy_ids}
    if not policy_ids:
        return out
    q = (
        select(QosRule)
        .where(QosRule.policy_id.in_(policy_ids))
        .order_by(QosRule.rule_type, QosRule.direction, QosRule.id)
    )
    for rule in session.scalars(q):
        out[rule.policy_id].append(policy_view(rule))
    return out


def _amount(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InvalidInput(
            f"Invalid input for {field}. Reason: '{shown(value)}' is not an integer."
        )
    try:
        number = int(value)
    except ValueError:
        raise InvalidInput(
            f"Invalid input for {field}. Reason: '{shown(value)}' is not an integer."
        ) from None
    if not 0 <= number <= MAX_KBPS:
        raise InvalidInput(
            f"Invalid input for {field}. Reason: '{number}' is not in range 0 through {MAX_KBPS}."
        )
    return number


def _apply(rule: QosRule, body: dict[str, Any]) -> None:
    if "max_kbps" in body:
        rule.max_kbps = _amount(body["max_kbps"], "max_kbps")
    if "max_burst_kbps" in body:
        rule.max_burst_kbps = _amount(body["max_burst_kbps"], "max_burst_kbps")
    if "min_kbps" in body:
        rule.min_kbps = _amount(body["min_kbps"], "min_kbps")
    if "max_kpps" in body:
        rule.max_kpps = _amount(body["max_kpps"], "max_kpps")
    if "max_burst_kpps" in body:
        rule.max_burst_kpps = _amount(body["max_burst_kpps"], "max_burst_kpps")
    if "min_kpps" in body:
        rule.min_kpps = _amount(body["min_kpps"], "min_kpps")
    if "direction" in body:
        allowed = PPS_DIRECTIONS if rule.rule_type == MINIMUM_PACKET_RATE else DIRECTIONS
        if body["direction"] not in allowed:
            raise InvalidInput(
                f"Invalid input for direction. Reason: '{shown(body['direction'])}' is not "
                f"in {list(allowed)}."
            )
        rule.direction = str(body["direction"])
    if "dscp_mark" in body:
        mark = body["dscp_mark"]
        if isinstance(mark, str) and mark.isdigit():
            mark = int(mark)
        if isinstance(mark, bool) or mark not in VALID_DSCP_MARKS:
            raise InvalidInput(
                f"Invalid input for dscp_mark. Reason: '{shown(mark)}' is not in "
                f"{list(VALID_DSCP_MARKS)}."
            )
        rule.dscp_mark = int(mark)


def _no_duplicate(session: Session, rule: QosRule) -> None:
    """One rule of a type per direction; a minimum packet rate for ``any``
    direction excludes directed ones of the policy, and the other way round."""
    directions = [rule.direction]
    if rule.rule_type == MINIMUM_PACKET_RATE:
        directions = list(DIRECTIONS) if rule.direction == ANY else [rule.direction, ANY]
    q = select(QosRule.id).where(
        QosRule.policy_id == rule.policy_id,
        QosRule.rule_type == rule.rule_type,
        QosRule.direction.in_(directions),
        QosRule.id != rule.id,
    )
    with session.no_autoflush:  # the changed rule is not written before the check
        taken = session.scalar(q.limit(1))
    if taken is not None:
        what = f" in direction {rule.direction}" if rule.direction else ""
        raise Conflict(
            f"Rule {rule.rule_type}{what} already exists in QoS Policy {rule.policy_id}.",
            kind="QoSRulesConflict",
        )


def _policy_for_change(
    uow: UnitOfWork, ctx: RequestContext, policy_id: str, action: str, kind: RuleType
) -> QosPolicy:
    row = policies.load(uow.session, ctx, policy_id, lock=True)
    authorize(ctx, f"network:{action}_policy_{kind.member}", {"project_id": row.project_id})
    return row


def _changed(uow: UnitOfWork, row: QosPolicy) -> None:
    touch(row)
    uow.session.flush()
    attach.policy_changed(uow, row.id)


def create(
    uow: UnitOfWork, ctx: RequestContext, policy_id: str, kind: RuleType, body: dict[str, Any]
) -> QosRule:
    validate.known(body, set(kind.fields) | {"project_id", "tenant_id"})
    row = _policy_for_change(uow, ctx, policy_id, "create", kind)
    if kind.required not in body:
        raise BadRequest(
            f"Failed to parse request. Required attribute '{kind.required}' not specified"
        )
    rule = QosRule(
        policy_id=row.id,
        rule_type=kind.name,
        direction="egress" if kind.name in LIMITS else "",
        max_kbps=0,
        max_burst_kbps=0,
        max_kpps=0,
        max_burst_kpps=0,
        min_kbps=0,
        min_kpps=0,
        dscp_mark=0,
    )
    _apply(rule, body)
    _no_duplicate(uow.session, rule)
    uow.session.add(rule)
    _changed(uow, row)
    return rule


def load(
    session: Session, ctx: RequestContext, policy_id: str, kind: RuleType | None, rule_id: str
) -> tuple[QosPolicy, QosRule]:
    row = policies.load(session, ctx, policy_id)
    rule = session.get(QosRule, rule_id)
    if (
        rule is None
        or rule.policy_id != row.id
        or (kind is not None and rule.rule_type != kind.name)
    ):
        raise rule_not_found(rule_id, policy_id)
    return row, rule


def find(
    session: Session, ctx: RequestContext, kind: RuleType, rule_id: str
) -> tuple[str, QosRule]:
    """A rule by id alone (the ``qos-rules-alias`` routes): its policy and the rule."""
    rule = session.get(QosRule, rule_id)
    if rule is None or rule.rule_type != kind.name:
        raise NotFound(f"QoS rule {rule_id} could not be found.", kind="QosRuleNotFound")
    try:
        policies.load(session, ctx, rule.policy_id)
    except NotFound:
        raise NotFound(f"QoS rule {rule_id} could not be found.", kind="QosRuleNotFound") from None
    return rule.policy_id, rule


def update(
    uow: UnitOfWork,
    ctx: RequestContext,
    policy_id: str,
    kind: RuleType,
    rule_id: str,
    body: dict[str, Any],
) -> QosRule:
    if "id" in body:
        raise InvalidInput("Cannot update read-only attribute id")
    validate.known(body, set(kind.fields))
    row = _policy_for_change(uow, ctx, policy_id, "update", kind)
    _, rule = load(uow.session, ctx, policy_id, kind, rule_id)
    _apply(rule, body)
    _no_duplicate(uow.session, rule)
    _changed(uow, row)
    return rule


def remove(
    uow: UnitOfWork, ctx: RequestContext, policy_id: str, kind: RuleType, rule_id: str
) -> None:
    row = _policy_for_change(uow, ctx, policy_id, "delete", kind)
    _, rule = load(uow.session, ctx, policy_id, kind, rule_id)
    uow.session.delete(rule)
    _changed(uow, row)
