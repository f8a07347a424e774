"""The segment calls the API makes, on top of ``NetworkService`` (functions
taking the service first, for the CRUD route recipe). Segments are the
admins' (Neutron's default policy): the service asks the table first."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from kumo.context import RequestContext
from kumo.db.network_models import NetworkSegment
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.network.segments import rows
from kumo.network.service import NetworkService, sql_where
from kumo.policy import authorize

ATTRIBUTES = rows.ATTRIBUTES
SQL_FILTERS = {
    "id": NetworkSegment.id,
    "network_id": NetworkSegment.network_id,
    "name": NetworkSegment.name,
    "network_type": NetworkSegment.network_type,
    "physical_network": NetworkSegment.physical_network,
}


def list_segments(
    svc: NetworkService, ctx: RequestContext, prefilters: dict[str, list[str]]
) -> list[dict[str, Any]]:
    authorize(ctx, "network:get_segment", {})
    with svc.db.read_session() as s:
        q = sql_where(select(NetworkSegment), SQL_FILTERS, prefilters)
        found = s.scalars(
            q.order_by(NetworkSegment.created_at, NetworkSegment.segment_index, NetworkSegment.id)
        )
        return [rows.view(seg) for seg in found]


def show_segment(svc: NetworkService, ctx: RequestContext, segment_id: str) -> dict[str, Any]:
    authorize(ctx, "network:get_segment", {})
    with svc.db.read_session() as s:
        return rows.view(rows.load(s, segment_id))


def create_segments(
    svc: NetworkService, ctx: RequestContext, bodies: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    def work(uow: UnitOfWork) -> list[dict[str, Any]]:
        return [rows.view(rows.create(uow, svc.settings, ctx, b)) for b in bodies]

    return run_in_transaction(svc.db, work)


def update_segment(
    svc: NetworkService,
    ctx: RequestContext,
    segment_id: str,
    body: dict[str, Any],
    if_match: int | None = None,
) -> dict[str, Any]:
    return run_in_transaction(
        svc.db, lambda uow: rows.view(rows.update(uow, ctx, segment_id, body, if_match))
    )


def delete_segment(
    svc: NetworkService, ctx: RequestContext, segment_id: str, if_match: int | None = None
) -> None:
    run_in_transaction(svc.db, lambda uow: rows.remove(uow, ctx, segment_id, if_match))
