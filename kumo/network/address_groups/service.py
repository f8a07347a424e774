"""The address group calls the API makes, on top of ``NetworkService``
(functions taking the service first, for the CRUD route recipe)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from kumo.context import RequestContext
from kumo.db.address_group_models import AddressGroup
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.network.address_groups import groups
from kumo.network.rbac import access as rbac_access
from kumo.network.service import NetworkService, sql_where
from kumo.policy import unrestricted

ATTRIBUTES = groups.ATTRIBUTES
SQL_FILTERS = {
    "id": AddressGroup.id,
    "name": AddressGroup.name,
    "project_id": AddressGroup.project_id,
    "tenant_id": AddressGroup.project_id,
}


def list_groups(
    svc: NetworkService, ctx: RequestContext, prefilters: dict[str, list[str]]
) -> list[dict[str, Any]]:
    with svc.db.read_session() as s:
        q = sql_where(select(AddressGroup), SQL_FILTERS, prefilters)
        if not unrestricted(ctx, "network:get_address_group"):
            shared = rbac_access.granted(s, "address_group", ctx.project_id)
            q = q.where(or_(AddressGroup.project_id == ctx.project_id, AddressGroup.id.in_(shared)))
        rows = s.scalars(q.order_by(AddressGroup.created_at, AddressGroup.id))
        return [groups.view(g) for g in rows]


def show_group(svc: NetworkService, ctx: RequestContext, group_id: str) -> dict[str, Any]:
    with svc.db.read_session() as s:
        return groups.view(groups.load(s, ctx, group_id))


def create_groups(
    svc: NetworkService, ctx: RequestContext, bodies: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    def work(uow: UnitOfWork) -> list[dict[str, Any]]:
        return [groups.view(groups.create(uow, ctx, b)) for b in bodies]

    return run_in_transaction(svc.db, work)


def update_group(
    svc: NetworkService,
    ctx: RequestContext,
    group_id: str,
    body: dict[str, Any],
    if_match: int | None = None,
) -> dict[str, Any]:
    return run_in_transaction(
        svc.db, lambda uow: groups.view(groups.update(uow, ctx, group_id, body, if_match))
    )


def delete_group(
    svc: NetworkService, ctx: RequestContext, group_id: str, if_match: int | None = None
) -> None:
    run_in_transaction(svc.db, lambda uow: groups.remove(uow, ctx, group_id, if_match))


def change_addresses(
    svc: NetworkService, ctx: RequestContext, group_id: str, body: Any, *, add: bool
) -> dict[str, Any]:
    return run_in_transaction(
        svc.db,
        lambda uow: groups.view(groups.change_addresses(uow, ctx, group_id, body, add=add)),
    )
