"""Security groups: each project's default group, create, update, delete.

A project's ``default`` group is made on first need (listing or showing
groups, a port with port security, a rule) inside the caller's
transaction; the primary key of ``default_security_groups`` makes a racing
second creator fail, and ``run_in_transaction`` runs it again to find the
winner's group.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.secgroup_models import (
    DefaultSecurityGroup,
    PortSecurityGroup,
    SecurityGroup,
    SecurityGroupRule,
)
from kumo.db.uow import UnitOfWork
from kumo.errors import Conflict, InvalidInput, NotFound
from kumo.network import events, policy, validate
from kumo.network import tags as taglib
from kumo.network.core.networks import touch
from kumo.network.quotas import check_quota
from kumo.network.rbac import access as rbac_access
from kumo.network.rbac import policies as rbac
from kumo.network.revision import check_revision
from kumo.network.secgroups import default_rules
from kumo.policy import allowed, authorize, unrestricted

DEFAULT_NAME = "default"
DEFAULT_DESCRIPTION = "Default security group"
CREATE = {"name", "description", "stateful", "project_id", "tenant_id", "tags"}
UPDATE = {"name", "description", "stateful"}


def not_found(group_id: str) -> NotFound:
    return NotFound(f"Security group {group_id} does not exist", kind="SecurityGroupNotFound")


def load(
    session: Session, ctx: RequestContext, group_id: str, *, lock: bool = False
) -> SecurityGroup:
    query = select(SecurityGroup).where(SecurityGroup.id == group_id)
    if lock:
        query = query.with_for_update()
    group = session.scalar(query)
    if group is None:
        raise not_found(group_id)
    if not allowed(ctx, "network:get_security_group", {"project_id": group.project_id}):
        shared = bool(rbac_access.shared_groups(session, ctx.project_id, [group.id]))
        if not allowed(
            ctx, "network:get_security_group", {"project_id": group.project_id, "shared": shared}
        ):
            raise not_found(group_id)
    return group


def load_owned(
    session: Session, ctx: RequestContext, group_id: str, action: str, *, lock: bool = False
) -> SecurityGroup:
    """A group the caller may change (``action``, a rule of the table): a
    project a group is shared with sees it, but changes only its own."""
    group = load(session, ctx, group_id, lock=lock)
    authorize(ctx, f"network:{action}", {"project_id": group.project_id})
    return group


def default_id(session: Session, project_id: str) -> str | None:
    """The project's default group, by primary key (one indexed read)."""
    d = DefaultSecurityGroup
    return session.scalar(select(d.security_group_id).where(d.project_id == project_id))


def ensure_default(uow: UnitOfWork, project_id: str) -> str:
    """The id of the project's default group, created with its four rules if missing."""
    s = uow.session
    found = default_id(s, project_id)
    if found is not None:
        return found
    group = SecurityGroup(project_id=project_id, name=DEFAULT_NAME, description=DEFAULT_DESCRIPTION)
    s.add(group)
    s.flush()
    s.add(DefaultSecurityGroup(project_id=project_id, security_group_id=group.id))
    s.flush()  # a racing creator fails here; the whole unit then runs again
    s.add_all(default_rules.rules_for(s, group, default=True))
    s.flush()
    events.security_group(uow, group)
    return group.id


def _name(body: dict[str, Any]) -> str:
    name = validate.string(body, "name")
    if name.lower() == DEFAULT_NAME:
        raise Conflict(
            "Default security group already exists.", kind="SecurityGroupDefaultAlreadyExists"
        )
    return name


def create(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, body: dict[str, Any]
) -> SecurityGroup:
    validate.known(body, CREATE)
    s = uow.session
    owner = policy.owner_for_create(ctx, body)
    name = _name(body) if "name" in body else ""
    ensure_default(uow, owner)
    check_quota(s, settings, owner, "security_group")
    group = SecurityGroup(
        project_id=owner,
        name=name,
        description=validate.string(body, "description") if "description" in body else "",
        stateful=validate.boolean(body, "stateful") if "stateful" in body else True,
    )
    s.add(group)
    s.flush()
    initial = default_rules.rules_for(s, group, default=False)
    check_quota(s, settings, owner, "security_group_rule", len(initial))
    s.add_all(initial)
    s.flush()
    taglib.on_create(s, "security_group", group.id, body)
    events.security_group(uow, group)
    return group


def update(
    uow: UnitOfWork,
    ctx: RequestContext,
    group_id: str,
    body: dict[str, Any],
    if_match: int | None,
) -> SecurityGroup:
    for key in ("id", "project_id", "tenant_id", "security_group_rules"):
        if key in body:
            raise InvalidInput(f"Cannot update read-only attribute {key}")
    validate.known(body, UPDATE)
    s = uow.session
    group = load_owned(s, ctx, group_id, "update_security_group", lock=True)
    check_revision(group.revision_number, if_match)
    if "name" in body and default_id(s, group.project_id) == group.id:
        raise Conflict(
            "Updating default security group not allowed.",
            kind="SecurityGroupCannotUpdateDefault",
        )
    if "name" in body:
        group.name = _name(body)
    if "description" in body:
        group.description = validate.string(body, "description")
    if "stateful" in body:
        stateful = validate.boolean(body, "stateful")
        if stateful != group.stateful and _in_use(s, group.id):
            raise Conflict(
                f"Security Group {group.id} cannot change stateful while it is in use by ports.",
                kind="SecurityGroupInUse",
            )
        group.stateful = stateful
    changed(uow, group)
    return group


def changed(uow: UnitOfWork, group: SecurityGroup) -> None:
    """A group or its rules changed: new revision, event with the full body."""
    touch(group)
    uow.session.flush()
    events.security_group(uow, group)


def _in_use(s: Session, group_id: str) -> bool:
    b = PortSecurityGroup
    q = select(func.count()).select_from(b).where(b.security_group_id == group_id)
    return bool(s.scalar(q))


def remove(uow: UnitOfWork, ctx: RequestContext, group_id: str, if_match: int | None) -> None:
    s = uow.session
    group = load_owned(s, ctx, group_id, "delete_security_group", lock=True)
    check_revision(group.revision_number, if_match)
    if _in_use(s, group.id):
        raise Conflict(f"Security Group {group.id} in use.", kind="SecurityGroupInUse")
    if default_id(s, group.project_id) == group.id and not unrestricted(
        ctx, "network:delete_security_group"
    ):
        raise Conflict(
            "Insufficient rights for removing default security group.",
            kind="SecurityGroupCannotRemoveDefault",
        )
    events.security_group(uow, group, "delete")
    r = SecurityGroupRule
    # Rules of other groups that name this one as their remote go with it.
    referring = select(r.security_group_id).where(
        r.remote_group_id == group.id, r.security_group_id != group.id
    )
    others = list(s.scalars(select(SecurityGroup).where(SecurityGroup.id.in_(referring))))
    s.execute(delete(r).where(r.remote_group_id == group.id))
    s.execute(delete(r).where(r.security_group_id == group.id))
    s.execute(
        delete(DefaultSecurityGroup).where(DefaultSecurityGroup.security_group_id == group.id)
    )
    taglib.delete_tags(s, group.id)
    rbac.object_deleted(s, "security_group", group.id)
    s.delete(group)
    s.flush()
    for other in others:
        changed(uow, other)
