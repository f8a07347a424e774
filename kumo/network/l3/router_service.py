"""The router calls the API makes, on top of ``NetworkService``.

Functions take the service as their first argument, so the CRUD route
recipe (``api/networking/resource.py``) uses them like its methods.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from kumo.context import RequestContext
from kumo.db.l3_models import Router
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.network import policy
from kumo.network.l3 import router_interfaces, routers
from kumo.network.l3.views import render_routers
from kumo.network.service import NetworkService, sql_where
from kumo.policy import unrestricted

ROUTER_SQL_FILTERS = {
    "id": Router.id,
    "name": Router.name,
    "project_id": Router.project_id,
    "tenant_id": Router.project_id,
}


def _render(svc: NetworkService, ctx: RequestContext, ids: list[str]) -> list[dict[str, Any]]:
    with svc.db.read_session() as s:
        rows = {r.id: r for r in s.scalars(select(Router).where(Router.id.in_(ids)))}
        views = render_routers(s, [rows[i] for i in ids if i in rows])
    return policy.redact_all(ctx, "routers", views)


def list_routers(
    svc: NetworkService, ctx: RequestContext, prefilters: dict[str, list[str]]
) -> list[dict[str, Any]]:
    with svc.db.read_session() as s:
        q = sql_where(select(Router), ROUTER_SQL_FILTERS, prefilters)
        if not unrestricted(ctx, "network:get_router"):
            q = q.where(Router.project_id == ctx.project_id)
        views = render_routers(s, list(s.scalars(q.order_by(Router.created_at, Router.id))))
    return policy.redact_all(ctx, "routers", views)


def show_router(svc: NetworkService, ctx: RequestContext, router_id: str) -> dict[str, Any]:
    with svc.db.read_session() as s:
        view = render_routers(s, [routers.load(s, ctx, router_id)])[0]
    return policy.redact(ctx, "routers", view)


def create_routers(
    svc: NetworkService, ctx: RequestContext, bodies: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    def work(uow: UnitOfWork) -> list[str]:
        return [routers.create(uow, svc.settings, ctx, b).id for b in bodies]

    return _render(svc, ctx, run_in_transaction(svc.db, work))


def update_router(
    svc: NetworkService,
    ctx: RequestContext,
    router_id: str,
    body: dict[str, Any],
    if_match: int | None = None,
) -> dict[str, Any]:
    run_in_transaction(
        svc.db, lambda uow: routers.update(uow, svc.settings, ctx, router_id, body, if_match)
    )
    return show_router(svc, ctx, router_id)


def delete_router(
    svc: NetworkService, ctx: RequestContext, router_id: str, if_match: int | None = None
) -> None:
    run_in_transaction(
        svc.db, lambda uow: routers.remove(uow, svc.settings, ctx, router_id, if_match)
    )


def add_interface(
    svc: NetworkService, ctx: RequestContext, router_id: str, body: Any
) -> dict[str, Any]:
    return run_in_transaction(
        svc.db, lambda uow: router_interfaces.add(uow, svc.settings, ctx, router_id, body)
    )


def remove_interface(
    svc: NetworkService, ctx: RequestContext, router_id: str, body: Any
) -> dict[str, Any]:
    return run_in_transaction(
        svc.db, lambda uow: router_interfaces.remove(uow, svc.settings, ctx, router_id, body)
    )


def change_routes(
    svc: NetworkService, ctx: RequestContext, router_id: str, body: dict[str, Any], add: bool
) -> dict[str, Any]:
    """``add_extraroutes`` / ``remove_extraroutes`` (extraroute-atomic)."""

    def work(uow: UnitOfWork) -> None:
        router = routers.load(uow.session, ctx, router_id, lock=True)
        given = routers.parse_routes(body.get("routes"))
        current = [dict(r) for r in router.routes or []]
        if add:
            wanted = current + [r for r in given if r not in current]
        else:
            wanted = [r for r in current if r not in given]
        router.routes = routers.check_routes(uow.session, router, wanted)
        routers.changed(uow, svc.settings, router)

    run_in_transaction(svc.db, work)
    return show_router(svc, ctx, router_id)
