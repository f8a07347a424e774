"""The RBAC policy calls the API makes, on top of ``NetworkService``
(functions taking the service first, for the CRUD route recipe)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from kumo.context import RequestContext
from kumo.db.rbac_models import RbacPolicy
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.network.rbac import policies
from kumo.network.service import NetworkService, sql_where
from kumo.policy import unrestricted

ATTRIBUTES = frozenset(
    {"id", "project_id", "tenant_id", "object_type", "object_id", "action", "target_tenant"}
)
SQL_FILTERS = {
    "id": RbacPolicy.id,
    "project_id": RbacPolicy.project_id,
    "tenant_id": RbacPolicy.project_id,
    "object_type": RbacPolicy.object_type,
    "object_id": RbacPolicy.object_id,
    "action": RbacPolicy.action,
    "target_tenant": RbacPolicy.target_project,
}


def list_policies(
    svc: NetworkService, ctx: RequestContext, prefilters: dict[str, list[str]]
) -> list[dict[str, Any]]:
    with svc.db.read_session() as s:
        q = sql_where(select(RbacPolicy), SQL_FILTERS, prefilters)
        if not unrestricted(ctx, "network:get_rbac_policy"):
            q = q.where(RbacPolicy.project_id == ctx.project_id)
        rows = s.scalars(q.order_by(RbacPolicy.object_id, RbacPolicy.id))
        return [policies.view(r) for r in rows if policies.visible(ctx, r)]


def show_policy(svc: NetworkService, ctx: RequestContext, policy_id: str) -> dict[str, Any]:
    with svc.db.read_session() as s:
        return policies.view(policies.load(s, ctx, policy_id))


def create_policies(
    svc: NetworkService, ctx: RequestContext, bodies: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    def work(uow: UnitOfWork) -> list[dict[str, Any]]:
        return [policies.view(policies.create(uow, svc.settings, ctx, b)) for b in bodies]

    return run_in_transaction(svc.db, work)


def update_policy(
    svc: NetworkService,
    ctx: RequestContext,
    policy_id: str,
    body: dict[str, Any],
    if_match: int | None = None,
) -> dict[str, Any]:
    return run_in_transaction(
        svc.db, lambda uow: policies.view(policies.update(uow, ctx, policy_id, body))
    )


def delete_policy(
    svc: NetworkService, ctx: RequestContext, policy_id: str, if_match: int | None = None
) -> None:
    run_in_transaction(svc.db, lambda uow: policies.remove(uow, ctx, policy_id))
