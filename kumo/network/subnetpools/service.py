"""The subnet pool calls the API makes, on top of ``NetworkService``
(functions taking the service first, for the CRUD route recipe)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from kumo.context import RequestContext
from kumo.db.subnetpool_models import SubnetPool
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.network import tags as taglib
from kumo.network.rbac import access as rbac_access
from kumo.network.service import NetworkService, sql_where
from kumo.network.subnetpools import pools
from kumo.policy import unrestricted

ATTRIBUTES = pools.ATTRIBUTES
SQL_FILTERS = {
    "id": SubnetPool.id,
    "name": SubnetPool.name,
    "project_id": SubnetPool.project_id,
    "tenant_id": SubnetPool.project_id,
    "address_scope_id": SubnetPool.address_scope_id,
}


def _views(s: Any, ctx: RequestContext, rows: list[SubnetPool]) -> list[dict[str, Any]]:
    ids = [p.id for p in rows]
    tags = taglib.tags_for(s, ids)
    shared = rbac_access.granted(s, "subnetpool", ctx.project_id, ids)
    return [
        pools.view(p, tags.get(p.id, []), rbac_access.SHARED in shared.get(p.id, ())) for p in rows
    ]


def list_pools(
    svc: NetworkService, ctx: RequestContext, prefilters: dict[str, list[str]]
) -> list[dict[str, Any]]:
    with svc.db.read_session() as s:
        q = sql_where(select(SubnetPool), SQL_FILTERS, prefilters)
        if not unrestricted(ctx, "network:get_subnetpool"):
            shared = rbac_access.granted(s, "subnetpool", ctx.project_id)
            q = q.where(or_(SubnetPool.project_id == ctx.project_id, SubnetPool.id.in_(shared)))
        rows = list(s.scalars(q.order_by(SubnetPool.created_at, SubnetPool.id)))
        return _views(s, ctx, rows)


def show_pool(svc: NetworkService, ctx: RequestContext, pool_id: str) -> dict[str, Any]:
    with svc.db.read_session() as s:
        return _views(s, ctx, [pools.load(s, ctx, pool_id)])[0]


def create_pools(
    svc: NetworkService, ctx: RequestContext, bodies: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    def work(uow: UnitOfWork) -> list[str]:
        return [pools.create(uow, svc.settings, ctx, b).id for b in bodies]

    return [show_pool(svc, ctx, i) for i in run_in_transaction(svc.db, work)]


def update_pool(
    svc: NetworkService,
    ctx: RequestContext,
    pool_id: str,
    body: dict[str, Any],
    if_match: int | None = None,
) -> dict[str, Any]:
    run_in_transaction(svc.db, lambda uow: pools.update(uow, ctx, pool_id, body, if_match))
    return show_pool(svc, ctx, pool_id)


def delete_pool(
    svc: NetworkService, ctx: RequestContext, pool_id: str, if_match: int | None = None
) -> None:
    run_in_transaction(svc.db, lambda uow: pools.remove(uow, ctx, pool_id, if_match))


def change_prefixes(
    svc: NetworkService, ctx: RequestContext, pool_id: str, body: Any, *, add: bool
) -> list[str]:
    return run_in_transaction(
        svc.db, lambda uow: list(pools.change_prefixes(uow, ctx, pool_id, body, add=add).prefixes)
    )


def onboard(svc: NetworkService, ctx: RequestContext, pool_id: str, body: Any) -> dict[str, Any]:
    return run_in_transaction(svc.db, lambda uow: pools.onboard(uow, ctx, pool_id, body))
