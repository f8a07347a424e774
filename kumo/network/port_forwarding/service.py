"""The port forwarding calls the API makes, on top of ``NetworkService``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from kumo.context import RequestContext
from kumo.db.port_forwarding_models import PortForwarding
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.network.l3 import floatingips
from kumo.network.port_forwarding import forwardings
from kumo.network.service import NetworkService, sql_where
from kumo.policy import authorize

ATTRIBUTES = forwardings.ATTRIBUTES
SQL_FILTERS = {
    "id": PortForwarding.id,
    "internal_port_id": PortForwarding.internal_port_id,
    "internal_ip_address": PortForwarding.internal_ip_address,
    "protocol": PortForwarding.protocol,
    "description": PortForwarding.description,
}


def list_forwardings(
    svc: NetworkService, ctx: RequestContext, fip_id: str, prefilters: dict[str, list[str]]
) -> list[dict[str, Any]]:
    with svc.db.read_session() as s:
        fip = floatingips.load(s, ctx, fip_id)
        authorize(ctx, "network:get_floatingip_port_forwarding", {"project_id": fip.project_id})
        q = sql_where(select(PortForwarding), SQL_FILTERS, prefilters)
        q = q.where(PortForwarding.floatingip_id == fip.id)
        rows = s.scalars(q.order_by(PortForwarding.created_at, PortForwarding.id))
        return [forwardings.view(r) for r in rows]


def show_forwarding(
    svc: NetworkService, ctx: RequestContext, fip_id: str, pf_id: str
) -> dict[str, Any]:
    with svc.db.read_session() as s:
        fip = floatingips.load(s, ctx, fip_id)
        authorize(ctx, "network:get_floatingip_port_forwarding", {"project_id": fip.project_id})
        return forwardings.view(forwardings.load(s, ctx, fip, pf_id))


def create_forwarding(
    svc: NetworkService, ctx: RequestContext, fip_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    def work(uow: UnitOfWork) -> dict[str, Any]:
        return forwardings.view(forwardings.create(uow, ctx, fip_id, body))

    return run_in_transaction(svc.db, work)


def update_forwarding(
    svc: NetworkService, ctx: RequestContext, fip_id: str, pf_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    def work(uow: UnitOfWork) -> dict[str, Any]:
        return forwardings.view(forwardings.update(uow, ctx, fip_id, pf_id, body))

    return run_in_transaction(svc.db, work)


def delete_forwarding(svc: NetworkService, ctx: RequestContext, fip_id: str, pf_id: str) -> None:
    run_in_transaction(svc.db, lambda uow: forwardings.remove(uow, ctx, fip_id, pf_id))
