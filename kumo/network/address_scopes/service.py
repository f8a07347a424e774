"""The address scope calls the API makes, on top of ``NetworkService``
(functions taking the service first, for the CRUD route recipe)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from kumo.context import RequestContext
from kumo.db.subnetpool_models import AddressScope
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.network.address_scopes import scopes
from kumo.network.rbac import access as rbac_access
from kumo.network.service import NetworkService, sql_where
from kumo.policy import unrestricted

ATTRIBUTES = scopes.ATTRIBUTES
SQL_FILTERS = {
    "id": AddressScope.id,
    "name": AddressScope.name,
    "project_id": AddressScope.project_id,
    "tenant_id": AddressScope.project_id,
}


def _views(s: Any, ctx: RequestContext, rows: list[AddressScope]) -> list[dict[str, Any]]:
    shared = rbac_access.granted(s, "address_scope", ctx.project_id, [r.id for r in rows])
    return [scopes.view(r, rbac_access.SHARED in shared.get(r.id, ())) for r in rows]


def list_scopes(
    svc: NetworkService, ctx: RequestContext, prefilters: dict[str, list[str]]
) -> list[dict[str, Any]]:
    with svc.db.read_session() as s:
        q = sql_where(select(AddressScope), SQL_FILTERS, prefilters)
        if not unrestricted(ctx, "network:get_address_scope"):
            shared = rbac_access.granted(s, "address_scope", ctx.project_id)
            q = q.where(or_(AddressScope.project_id == ctx.project_id, AddressScope.id.in_(shared)))
        rows = list(s.scalars(q.order_by(AddressScope.created_at, AddressScope.id)))
        return _views(s, ctx, rows)


def show_scope(svc: NetworkService, ctx: RequestContext, scope_id: str) -> dict[str, Any]:
    with svc.db.read_session() as s:
        return _views(s, ctx, [scopes.load(s, ctx, scope_id)])[0]


def create_scopes(
    svc: NetworkService, ctx: RequestContext, bodies: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    def work(uow: UnitOfWork) -> list[str]:
        return [scopes.create(uow, ctx, b).id for b in bodies]

    return [show_scope(svc, ctx, i) for i in run_in_transaction(svc.db, work)]


def update_scope(
    svc: NetworkService,
    ctx: RequestContext,
    scope_id: str,
    body: dict[str, Any],
    if_match: int | None = None,
) -> dict[str, Any]:
    run_in_transaction(svc.db, lambda uow: scopes.update(uow, ctx, scope_id, body, if_match))
    return show_scope(svc, ctx, scope_id)


def delete_scope(
    svc: NetworkService, ctx: RequestContext, scope_id: str, if_match: int | None = None
) -> None:
    run_in_transaction(svc.db, lambda uow: scopes.remove(uow, ctx, scope_id, if_match))
