"""The QoS calls the API makes, on top of ``NetworkService`` (functions
taking the service first, as the CRUD route recipe wants)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from kumo.context import RequestContext
from kumo.db.qos_models import QosPolicy
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.errors import NotFound
from kumo.network import tags as taglib
from kumo.network.qos import policies, rules
from kumo.network.qos.rules import RULE_TYPES, RuleType
from kumo.network.rbac import access as rbac_access
from kumo.network.service import NetworkService, sql_where
from kumo.network.validate import boolean_value
from kumo.policy import authorize, unrestricted

ATTRIBUTES = policies.ATTRIBUTES
SQL_FILTERS = {
    "id": QosPolicy.id,
    "name": QosPolicy.name,
    "description": QosPolicy.description,
    "project_id": QosPolicy.project_id,
    "tenant_id": QosPolicy.project_id,
}
SERVICE_FILTERS = frozenset({"shared", "is_default"})


def list_policies(
    svc: NetworkService, ctx: RequestContext, prefilters: dict[str, list[str]]
) -> list[dict[str, Any]]:
    with svc.db.read_session() as s:
        q = sql_where(select(QosPolicy), SQL_FILTERS, prefilters)
        for key in SERVICE_FILTERS & set(prefilters):
            wanted = {boolean_value(v) for v in prefilters[key]}
            q = q.where(getattr(QosPolicy, key).in_(wanted))
        if not unrestricted(ctx, "network:get_qos_policy"):
            shared = rbac_access.granted(s, "qos_policy", ctx.project_id)
            q = q.where(or_(QosPolicy.project_id == ctx.project_id, QosPolicy.id.in_(shared)))
        rows = list(s.scalars(q.order_by(QosPolicy.created_at, QosPolicy.id)))
        ids = [r.id for r in rows]
        found = rules.rules_of(s, ids)
        here = policies.shared_here(s, ctx, ids)
        tags = taglib.tags_for(s, ids)
        return [policies.view(r, found[r.id], r.id in here, tags.get(r.id)) for r in rows]


def show_policy(svc: NetworkService, ctx: RequestContext, policy_id: str) -> dict[str, Any]:
    with svc.db.read_session() as s:
        row = policies.load(s, ctx, policy_id)
        here = bool(policies.shared_here(s, ctx, [row.id]))
        tags = taglib.tags_for(s, [row.id]).get(row.id)
        return policies.view(row, rules.rules_of(s, [row.id])[row.id], here, tags)


def create_policies(
    svc: NetworkService, ctx: RequestContext, bodies: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    def work(uow: UnitOfWork) -> list[dict[str, Any]]:
        return [policies.view(policies.create(uow, ctx, b), []) for b in bodies]

    return run_in_transaction(svc.db, work)


def update_policy(
    svc: NetworkService,
    ctx: RequestContext,
    policy_id: str,
    body: dict[str, Any],
    if_match: int | None = None,
) -> dict[str, Any]:
    def work(uow: UnitOfWork) -> dict[str, Any]:
        row = policies.update(uow, ctx, policy_id, body, if_match)
        s = uow.session
        here = bool(policies.shared_here(s, ctx, [row.id]))
        tags = taglib.tags_for(s, [row.id]).get(row.id)
        return policies.view(row, rules.rules_of(s, [row.id])[row.id], here, tags)

    return run_in_transaction(svc.db, work)


def delete_policy(
    svc: NetworkService, ctx: RequestContext, policy_id: str, if_match: int | None = None
) -> None:
    run_in_transaction(svc.db, lambda uow: policies.remove(uow, ctx, policy_id, if_match))


# -- rules ---------------------------------------------------------------------------------


def list_rules(
    svc: NetworkService, ctx: RequestContext, policy_id: str, kind: RuleType
) -> list[dict[str, Any]]:
    with svc.db.read_session() as s:
        row = policies.load(s, ctx, policy_id)
        authorize(ctx, f"network:get_policy_{kind.member}", policies.read_target(s, ctx, row))
        from kumo.db.qos_models import QosRule

        q = select(QosRule).where(QosRule.policy_id == row.id, QosRule.rule_type == kind.name)
        return [rules.view(r) for r in s.scalars(q.order_by(QosRule.direction, QosRule.id))]


def show_rule(
    svc: NetworkService, ctx: RequestContext, policy_id: str, kind: RuleType, rule_id: str
) -> dict[str, Any]:
    with svc.db.read_session() as s:
        row, rule = rules.load(s, ctx, policy_id, kind, rule_id)
        authorize(ctx, f"network:get_policy_{kind.member}", policies.read_target(s, ctx, row))
        return rules.view(rule)


def create_rule(
    svc: NetworkService, ctx: RequestContext, policy_id: str, kind: RuleType, body: dict[str, Any]
) -> dict[str, Any]:
    return run_in_transaction(
        svc.db, lambda uow: rules.view(rules.create(uow, ctx, policy_id, kind, body))
    )


def update_rule(
    svc: NetworkService,
    ctx: RequestContext,
    policy_id: str,
    kind: RuleType,
    rule_id: str,
    body: dict[str, Any],
) -> dict[str, Any]:
    return run_in_transaction(
        svc.db, lambda uow: rules.view(rules.update(uow, ctx, policy_id, kind, rule_id, body))
    )


def delete_rule(
    svc: NetworkService, ctx: RequestContext, policy_id: str, kind: RuleType, rule_id: str
) -> None:
    run_in_transaction(svc.db, lambda uow: rules.remove(uow, ctx, policy_id, kind, rule_id))


def policy_of_rule(svc: NetworkService, ctx: RequestContext, kind: RuleType, rule_id: str) -> str:
    """The policy of a rule named by id alone (``qos-rules-alias``)."""
    with svc.db.read_session() as s:
        policy_id, _ = rules.find(s, ctx, kind, rule_id)
        return policy_id


# -- rule types ----------------------------------------------------------------------------


def rule_types() -> list[dict[str, str]]:
    return [{"type": name} for name in sorted(RULE_TYPES)]


def rule_type(name: str) -> dict[str, Any]:
    if name not in RULE_TYPES:
        raise NotFound(f"QoS rule type {name} could not be found.", kind="QosRuleTypeNotFound")
    return {
        "type": name,
        "drivers": [{"name": "kumo", "supported_parameters": rules.supported_parameters(name)}],
    }
