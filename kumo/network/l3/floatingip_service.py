"""The floating IP calls the API makes, on top of ``NetworkService``.

Functions take the service as their first argument, so the CRUD route
recipe (``api/networking/resource.py``) uses them like its methods.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from kumo.context import RequestContext
from kumo.db.l3_models import FloatingIP
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.network.l3 import floatingips
from kumo.network.l3.views import render_floatingips
from kumo.network.service import NetworkService, sql_where
from kumo.policy import unrestricted

FLOATINGIP_SQL_FILTERS = {
    "id": FloatingIP.id,
    "floating_network_id": FloatingIP.floating_network_id,
    "floating_ip_address": FloatingIP.floating_ip_address,
    "port_id": FloatingIP.fixed_port_id,
    "fixed_ip_address": FloatingIP.fixed_ip_address,
    "router_id": FloatingIP.router_id,
    "qos_policy_id": FloatingIP.qos_policy_id,
    "status": FloatingIP.status,
    "project_id": FloatingIP.project_id,
    "tenant_id": FloatingIP.project_id,
}


def _render(svc: NetworkService, ids: list[str]) -> list[dict[str, Any]]:
    with svc.db.read_session() as s:
        rows = {f.id: f for f in s.scalars(select(FloatingIP).where(FloatingIP.id.in_(ids)))}
        return render_floatingips(s, [rows[i] for i in ids if i in rows])


def list_floatingips(
    svc: NetworkService, ctx: RequestContext, prefilters: dict[str, list[str]]
) -> list[dict[str, Any]]:
    with svc.db.read_session() as s:
        q = sql_where(select(FloatingIP), FLOATINGIP_SQL_FILTERS, prefilters)
        if not unrestricted(ctx, "network:get_floatingip"):
            q = q.where(FloatingIP.project_id == ctx.project_id)
        rows = list(s.scalars(q.order_by(FloatingIP.created_at, FloatingIP.id)))
        return render_floatingips(s, rows)


def show_floatingip(svc: NetworkService, ctx: RequestContext, fip_id: str) -> dict[str, Any]:
    with svc.db.read_session() as s:
        return render_floatingips(s, [floatingips.load(s, ctx, fip_id)])[0]


def create_floatingips(
    svc: NetworkService, ctx: RequestContext, bodies: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    def work(uow: UnitOfWork) -> list[str]:
        return [floatingips.create(uow, svc.settings, ctx, b).id for b in bodies]

    return _render(svc, run_in_transaction(svc.db, work))


def update_floatingip(
    svc: NetworkService,
    ctx: RequestContext,
    fip_id: str,
    body: dict[str, Any],
    if_match: int | None = None,
) -> dict[str, Any]:
    run_in_transaction(svc.db, lambda uow: floatingips.update(uow, ctx, fip_id, body, if_match))
    return show_floatingip(svc, ctx, fip_id)


def delete_floatingip(
    svc: NetworkService, ctx: RequestContext, fip_id: str, if_match: int | None = None
) -> None:
    run_in_transaction(svc.db, lambda uow: floatingips.remove(uow, ctx, fip_id, if_match))
