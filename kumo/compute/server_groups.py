"""Server groups: affinity, anti-affinity and their soft variants."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.compute import quotas
from kumo.compute.common import body_member, name_field, non_negative
from kumo.compute.microversion import Version
from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.compute_models import Server, ServerGroup, ServerGroupMember
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest, NotFound
from kumo.policy import allowed

POLICIES = ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity")


def not_found(group_id: str) -> NotFound:
    return NotFound(f"Instance group {group_id} could not be found.", kind="InstanceGroupNotFound")


def load(session: Session, ctx: RequestContext, group_id: str) -> ServerGroup:
    group = session.get(ServerGroup, group_id)
    if group is None or not allowed(
        ctx, "compute:server_groups:show", {"project_id": group.project_id}
    ):
        raise not_found(group_id)
    return group


def members(session: Session, group_id: str) -> list[str]:
    m = ServerGroupMember
    return list(
        session.scalars(select(m.server_id).where(m.group_id == group_id).order_by(m.server_id))
    )


def member_hosts(session: Session, group_id: str) -> tuple[str, ...]:
    rows = session.scalars(
        select(Server.host)
        .join(ServerGroupMember, ServerGroupMember.server_id == Server.id)
        .where(ServerGroupMember.group_id == group_id, Server.host.is_not(None))
    )
    return tuple(h for h in rows if h)


def create(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, body: Any, version: Version
) -> ServerGroup:
    data = body_member(body, "server_group")
    name = name_field(data.get("name"))
    rules: dict[str, Any] = {}
    if version.at_least("2.64"):
        policy = data.get("policy")
        if "policies" in data:
            raise BadRequest(
                "Invalid input for field/attribute server_group. Additional properties are not allowed ('policies' was unexpected)"
            )
        raw_rules = data.get("rules") or {}
        if not isinstance(raw_rules, dict) or set(raw_rules) - {"max_server_per_host"}:
            raise BadRequest(f"Invalid input for field/attribute rules. Value: {raw_rules}.")
        if raw_rules:
            if policy != "anti-affinity":
                raise BadRequest("Only anti-affinity policy supports rules.")
            value = raw_rules["max_server_per_host"]
            if not isinstance(value, int | str):
                raise BadRequest(
                    f"Invalid input for field/attribute max_server_per_host. Value: {value}."
                )
            rules = {"max_server_per_host": non_negative(value, "max_server_per_host", minimum=1)}
    else:
        policies = data.get("policies")
        if not isinstance(policies, list) or len(policies) != 1:
            raise BadRequest(f"Invalid input for field/attribute policies. Value: {policies}.")
        policy = policies[0]
    if policy not in POLICIES:
        raise BadRequest(
            f"Invalid input for field/attribute policy. Value: {policy}. '{policy}' is not one of {list(POLICIES)}"
        )
    s = uow.session
    project = ctx.project_id or ""
    used = quotas.usage(s, project)["server_groups"]
    quotas.check(
        s, settings, project, "server_groups", used, 1, "Quota exceeded, too many server groups."
    )
    group = ServerGroup(
        name=name, project_id=project, user_id=ctx.user_id, policy=policy, rules=rules
    )
    s.add(group)
    s.flush()
    return group


def remove(uow: UnitOfWork, ctx: RequestContext, group_id: str) -> None:
    uow.session.delete(load(uow.session, ctx, group_id))


def listing(session: Session, ctx: RequestContext, all_projects: bool) -> list[ServerGroup]:
    q = select(ServerGroup).order_by(ServerGroup.created_at, ServerGroup.id)
    if not (all_projects and allowed(ctx, "compute:server_groups:list:all_projects")):
        q = q.where(ServerGroup.project_id == ctx.project_id)
    return list(session.scalars(q))


def view(session: Session, group: ServerGroup, version: Version) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": group.id,
        "name": group.name,
        "members": members(session, group.id),
        "project_id": group.project_id,
        "user_id": group.user_id,
    }
    if version.at_least("2.64"):
        out["policy"] = group.policy
        out["rules"] = dict(group.rules or {})
    else:
        out["policies"] = [group.policy]
        out["metadata"] = {}
    if not version.at_least("2.13"):
        del out["project_id"], out["user_id"]
    return out
