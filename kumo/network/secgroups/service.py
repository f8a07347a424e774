"""The security group calls the API makes, on top of ``NetworkService``.

Functions take the service as their first argument, so the CRUD route
recipe (``api/networking/resource.py``) uses them like its methods.
Listing or showing groups first makes sure the caller's project (or, for
an admin's list, the project it filters on) has its default group (a
primary-key read; a write only the first time).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from kumo.context import RequestContext
from kumo.db.secgroup_models import SecurityGroup, SecurityGroupRule
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.errors import BadRequest
from kumo.network.rbac import access as rbac_access
from kumo.network.secgroups import groups, rules
from kumo.network.secgroups.views import render_groups, render_rules
from kumo.network.service import NetworkService, sql_where
from kumo.policy import unrestricted

GROUP_SQL_FILTERS = {
    "id": SecurityGroup.id,
    "name": SecurityGroup.name,
    "project_id": SecurityGroup.project_id,
    "tenant_id": SecurityGroup.project_id,
}
RULE_SQL_FILTERS = {
    "id": SecurityGroupRule.id,
    "security_group_id": SecurityGroupRule.security_group_id,
    "direction": SecurityGroupRule.direction,
    "ethertype": SecurityGroupRule.ethertype,
    "remote_group_id": SecurityGroupRule.remote_group_id,
    "remote_address_group_id": SecurityGroupRule.remote_address_group_id,
    "project_id": SecurityGroupRule.project_id,
    "tenant_id": SecurityGroupRule.project_id,
}


def ensure_default_for(
    svc: NetworkService, ctx: RequestContext, prefilters: dict[str, list[str]] | None = None
) -> None:
    """Make sure the project a list is about has its default group.

    As in Neutron, that is the project the list filters on (``project_id``,
    else ``tenant_id``: the first value), else the caller's; and only for
    callers with a project. Unlike Neutron, a caller who may not read other
    projects' groups makes only its own project's default group.
    """
    if not ctx.project_id:
        return
    pre = prefilters or {}
    asked = [v for v in pre.get("project_id") or pre.get("tenant_id") or [] if v]
    project_id = asked[0] if asked else ctx.project_id
    if project_id != ctx.project_id and not unrestricted(ctx, "network:get_security_group"):
        project_id = ctx.project_id
    with svc.db.read_session() as s:
        if groups.default_id(s, project_id) is not None:
            return
    run_in_transaction(svc.db, lambda uow: groups.ensure_default(uow, project_id))


# -- groups --------------------------------------------------------------------------


def list_groups(
    svc: NetworkService, ctx: RequestContext, prefilters: dict[str, list[str]]
) -> list[dict[str, Any]]:
    ensure_default_for(svc, ctx, prefilters)
    with svc.db.read_session() as s:
        q = sql_where(select(SecurityGroup), GROUP_SQL_FILTERS, prefilters)
        if not unrestricted(ctx, "network:get_security_group"):
            shared = rbac_access.granted(s, "security_group", ctx.project_id)
            q = q.where(
                or_(SecurityGroup.project_id == ctx.project_id, SecurityGroup.id.in_(shared))
            )
        rows = list(s.scalars(q.order_by(SecurityGroup.created_at, SecurityGroup.id)))
        return _shared_view(s, ctx, render_groups(s, rows))


def show_group(svc: NetworkService, ctx: RequestContext, group_id: str) -> dict[str, Any]:
    ensure_default_for(svc, ctx)
    with svc.db.read_session() as s:
        return _shared_view(s, ctx, render_groups(s, [groups.load(s, ctx, group_id)]))[0]


def _shared_view(
    s: Session, ctx: RequestContext, views: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``shared`` as the caller sees it: true for a group shared with its project."""
    shared = rbac_access.shared_groups(s, ctx.project_id, [v["id"] for v in views])
    for v in views:
        v["shared"] = v["id"] in shared
    return views


def create_groups(
    svc: NetworkService, ctx: RequestContext, bodies: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    def work(uow: UnitOfWork) -> list[str]:
        return [groups.create(uow, svc.settings, ctx, b).id for b in bodies]

    ids = run_in_transaction(svc.db, work)
    with svc.db.read_session() as s:
        rows = {g.id: g for g in s.scalars(select(SecurityGroup).where(SecurityGroup.id.in_(ids)))}
        return render_groups(s, [rows[i] for i in ids])


def update_group(
    svc: NetworkService,
    ctx: RequestContext,
    group_id: str,
    body: dict[str, Any],
    if_match: int | None = None,
) -> dict[str, Any]:
    run_in_transaction(svc.db, lambda uow: groups.update(uow, ctx, group_id, body, if_match))
    with svc.db.read_session() as s:
        return render_groups(s, [groups.load(s, ctx, group_id)])[0]


def delete_group(
    svc: NetworkService, ctx: RequestContext, group_id: str, if_match: int | None = None
) -> None:
    run_in_transaction(svc.db, lambda uow: groups.remove(uow, ctx, group_id, if_match))


# -- rules ---------------------------------------------------------------------------


def list_rules(
    svc: NetworkService, ctx: RequestContext, prefilters: dict[str, list[str]]
) -> list[dict[str, Any]]:
    # As in Neutron, a rule list is a first touch too: a project counting its
    # rules against its quota counts its default group's.
    ensure_default_for(svc, ctx, prefilters)
    with svc.db.read_session() as s:
        r = SecurityGroupRule
        q = sql_where(select(r), RULE_SQL_FILTERS, prefilters)
        if not unrestricted(ctx, "network:get_security_group_rule"):
            own = select(SecurityGroup.id).where(SecurityGroup.project_id == ctx.project_id)
            q = q.where(or_(r.project_id == ctx.project_id, r.security_group_id.in_(own)))
        return render_rules(s, list(s.scalars(q.order_by(r.created_at, r.id))))


def show_rule(svc: NetworkService, ctx: RequestContext, rule_id: str) -> dict[str, Any]:
    with svc.db.read_session() as s:
        return render_rules(s, [rules.load_visible(s, ctx, rule_id)])[0]


def create_rules(
    svc: NetworkService, ctx: RequestContext, bodies: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    def work(uow: UnitOfWork) -> list[str]:
        return [r.id for r in rules.create_many(uow, svc.settings, ctx, bodies)]

    ids = run_in_transaction(svc.db, work)
    with svc.db.read_session() as s:
        r = SecurityGroupRule
        rows = {x.id: x for x in s.scalars(select(r).where(r.id.in_(ids)))}
        return render_rules(s, [rows[i] for i in ids])


def update_rule(
    svc: NetworkService,
    ctx: RequestContext,
    rule_id: str,
    body: dict[str, Any],
    if_match: int | None = None,
) -> dict[str, Any]:
    """Rules cannot change (Neutron has no updatable rule attribute)."""
    show_rule(svc, ctx, rule_id)
    for key in sorted(body):
        raise BadRequest(f"Cannot update read-only attribute {key}")
    raise BadRequest("Security group rules cannot be updated")


def delete_rule(
    svc: NetworkService, ctx: RequestContext, rule_id: str, if_match: int | None = None
) -> None:
    run_in_transaction(svc.db, lambda uow: rules.remove(uow, ctx, rule_id))
