"""The trunk calls the API makes, on top of ``NetworkService`` (functions
taking the service first, as the CRUD route recipe wants)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from kumo.context import RequestContext
from kumo.db.trunk_models import Trunk
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.network.service import NetworkService, sql_where
from kumo.network.trunks import subports, trunks
from kumo.policy import authorize, unrestricted

ATTRIBUTES = trunks.ATTRIBUTES
SQL_FILTERS = {
    "id": Trunk.id,
    "name": Trunk.name,
    "description": Trunk.description,
    "port_id": Trunk.port_id,
    "project_id": Trunk.project_id,
    "tenant_id": Trunk.project_id,
}


def list_trunks(
    svc: NetworkService, ctx: RequestContext, prefilters: dict[str, list[str]]
) -> list[dict[str, Any]]:
    with svc.db.read_session() as s:
        q = sql_where(select(Trunk), SQL_FILTERS, prefilters)
        if not unrestricted(ctx, "network:get_trunk"):
            q = q.where(Trunk.project_id == ctx.project_id)
        rows = list(s.scalars(q.order_by(Trunk.created_at, Trunk.id)))
        return trunks.render(s, rows)


def show_trunk(svc: NetworkService, ctx: RequestContext, trunk_id: str) -> dict[str, Any]:
    with svc.db.read_session() as s:
        return trunks.render(s, [trunks.load(s, ctx, trunk_id)])[0]


def create_trunks(
    svc: NetworkService, ctx: RequestContext, bodies: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    def work(uow: UnitOfWork) -> list[dict[str, Any]]:
        rows = [trunks.create(uow, ctx, b) for b in bodies]
        return trunks.render(uow.session, rows)

    return run_in_transaction(svc.db, work)


def update_trunk(
    svc: NetworkService,
    ctx: RequestContext,
    trunk_id: str,
    body: dict[str, Any],
    if_match: int | None = None,
) -> dict[str, Any]:
    def work(uow: UnitOfWork) -> dict[str, Any]:
        return trunks.render(uow.session, [trunks.update(uow, ctx, trunk_id, body, if_match)])[0]

    return run_in_transaction(svc.db, work)


def delete_trunk(
    svc: NetworkService, ctx: RequestContext, trunk_id: str, if_match: int | None = None
) -> None:
    run_in_transaction(svc.db, lambda uow: trunks.remove(uow, ctx, trunk_id, if_match))


def change_subports(
    svc: NetworkService, ctx: RequestContext, trunk_id: str, body: Any, action: str
) -> dict[str, Any]:
    """``PUT .../add_subports`` and ``.../remove_subports``: the trunk after."""

    def work(uow: UnitOfWork) -> dict[str, Any]:
        row = trunks.change_subports(uow, ctx, trunk_id, body, action)
        return trunks.render(uow.session, [row])[0]

    return run_in_transaction(svc.db, work)


def get_subports(svc: NetworkService, ctx: RequestContext, trunk_id: str) -> dict[str, Any]:
    with svc.db.read_session() as s:
        row = trunks.load(s, ctx, trunk_id)
        authorize(ctx, "network:get_subports", {"project_id": row.project_id})
        return {"sub_ports": [subports.view(r) for r in subports.of_trunks(s, [row.id])[row.id]]}
