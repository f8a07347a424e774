"""The flavor and service profile calls the API makes, on top of
``NetworkService`` (functions taking the service first, for the CRUD route
recipe)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from kumo.context import RequestContext
from kumo.db.net_flavor_models import NetworkFlavor, ServiceProfile
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.network.flavors import rows
from kumo.network.service import NetworkService, sql_where
from kumo.policy import authorize

FLAVOR_FILTERS = {
    "id": NetworkFlavor.id,
    "name": NetworkFlavor.name,
    "service_type": NetworkFlavor.service_type,
}
PROFILE_FILTERS = {"id": ServiceProfile.id, "driver": ServiceProfile.driver}


def list_flavors(
    svc: NetworkService, ctx: RequestContext, prefilters: dict[str, list[str]]
) -> list[dict[str, Any]]:
    authorize(ctx, "network:get_flavor")
    with svc.db.read_session() as s:
        q = sql_where(select(NetworkFlavor), FLAVOR_FILTERS, prefilters)
        found = list(s.scalars(q.order_by(NetworkFlavor.created_at, NetworkFlavor.id)))
        bound = rows.profile_ids(s, [f.id for f in found])
        return [rows.flavor_view(f, bound[f.id]) for f in found]


def show_flavor(svc: NetworkService, ctx: RequestContext, flavor_id: str) -> dict[str, Any]:
    authorize(ctx, "network:get_flavor")
    with svc.db.read_session() as s:
        row = rows.load_flavor(s, flavor_id)
        return rows.flavor_view(row, rows.profile_ids(s, [row.id])[row.id])


def _flavor(uow: UnitOfWork, row: NetworkFlavor) -> dict[str, Any]:
    uow.session.flush()
    return rows.flavor_view(row, rows.profile_ids(uow.session, [row.id])[row.id])


def create_flavors(
    svc: NetworkService, ctx: RequestContext, bodies: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    def work(uow: UnitOfWork) -> list[dict[str, Any]]:
        return [_flavor(uow, rows.create_flavor(uow, ctx, b)) for b in bodies]

    return run_in_transaction(svc.db, work)


def update_flavor(
    svc: NetworkService,
    ctx: RequestContext,
    flavor_id: str,
    body: dict[str, Any],
    if_match: int | None = None,
) -> dict[str, Any]:
    return run_in_transaction(
        svc.db, lambda uow: _flavor(uow, rows.update_flavor(uow, ctx, flavor_id, body))
    )


def delete_flavor(
    svc: NetworkService, ctx: RequestContext, flavor_id: str, if_match: int | None = None
) -> None:
    run_in_transaction(svc.db, lambda uow: rows.delete_flavor(uow, ctx, flavor_id))


def list_profiles(
    svc: NetworkService, ctx: RequestContext, prefilters: dict[str, list[str]]
) -> list[dict[str, Any]]:
    authorize(ctx, "network:get_service_profile")
    with svc.db.read_session() as s:
        q = sql_where(select(ServiceProfile), PROFILE_FILTERS, prefilters)
        found = s.scalars(q.order_by(ServiceProfile.created_at, ServiceProfile.id))
        return [rows.profile_view(p) for p in found]


def show_profile(svc: NetworkService, ctx: RequestContext, sp_id: str) -> dict[str, Any]:
    authorize(ctx, "network:get_service_profile")
    with svc.db.read_session() as s:
        return rows.profile_view(rows.load_profile(s, sp_id))


def create_profiles(
    svc: NetworkService, ctx: RequestContext, bodies: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    def work(uow: UnitOfWork) -> list[dict[str, Any]]:
        return [rows.profile_view(rows.create_profile(uow, ctx, b)) for b in bodies]

    return run_in_transaction(svc.db, work)


def update_profile(
    svc: NetworkService,
    ctx: RequestContext,
    sp_id: str,
    body: dict[str, Any],
    if_match: int | None = None,
) -> dict[str, Any]:
    return run_in_transaction(
        svc.db, lambda uow: rows.profile_view(rows.update_profile(uow, ctx, sp_id, body))
    )


def delete_profile(
    svc: NetworkService, ctx: RequestContext, sp_id: str, if_match: int | None = None
) -> None:
    run_in_transaction(svc.db, lambda uow: rows.delete_profile(uow, ctx, sp_id))


def bind_profile(svc: NetworkService, ctx: RequestContext, flavor_id: str, body: Any) -> str:
    return run_in_transaction(svc.db, lambda uow: rows.bind(uow, ctx, flavor_id, body))


def unbind_profile(svc: NetworkService, ctx: RequestContext, flavor_id: str, sp_id: str) -> None:
    run_in_transaction(svc.db, lambda uow: rows.unbind(uow, ctx, flavor_id, sp_id))
