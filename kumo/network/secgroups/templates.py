"""The default security group rule calls the API makes, on top of
``NetworkService`` (functions taking the service first, for the CRUD
route recipe)."""

from __future__ import annotations

from typing import Any

from kumo.context import RequestContext
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.network.secgroups import default_rules
from kumo.network.service import NetworkService
from kumo.policy import authorize

ATTRIBUTES = default_rules.ATTRIBUTES


def list_rules(
    svc: NetworkService, ctx: RequestContext, prefilters: dict[str, list[str]]
) -> list[dict[str, Any]]:
    authorize(ctx, "network:get_default_security_group_rule", {})

    def work(uow: UnitOfWork) -> list[dict[str, Any]]:
        # a write: the first read of a new database writes the built-in rows
        return [default_rules.view(r) for r in default_rules.listing(uow.session)]

    return run_in_transaction(svc.db, work)


def show_rule(svc: NetworkService, ctx: RequestContext, rule_id: str) -> dict[str, Any]:
    authorize(ctx, "network:get_default_security_group_rule", {})
    with svc.db.read_session() as s:
        return default_rules.view(default_rules.load(s, rule_id))


def create_rules(
    svc: NetworkService, ctx: RequestContext, bodies: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    def work(uow: UnitOfWork) -> list[dict[str, Any]]:
        return [default_rules.view(default_rules.create(uow, ctx, b)) for b in bodies]

    return run_in_transaction(svc.db, work)


def update_rule(
    svc: NetworkService,
    ctx: RequestContext,
    rule_id: str,
    body: dict[str, Any],
    if_match: int | None = None,
) -> dict[str, Any]:
    show_rule(svc, ctx, rule_id)
    authorize(ctx, "network:update_default_security_group_rule", {})
    default_rules.update(body)
    return show_rule(svc, ctx, rule_id)


def delete_rule(
    svc: NetworkService, ctx: RequestContext, rule_id: str, if_match: int | None = None
) -> None:
    run_in_transaction(svc.db, lambda uow: default_rules.remove(uow, ctx, rule_id))
