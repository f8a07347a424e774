"""Acting for the stack's creator: what the creator lent, and the context rebuilt from it.

At create, the creator's roles on the project are recorded with the stack
(``StackDelegation``, like a Keystone trust: trustor, project, roles). Each
operation rebuilds a ``RequestContext`` for the creator with those roles,
narrowed to the ones the creator still holds on the project then: a role
revoked since is not used, a disabled user or project stops the stack from
acting. Never more than the creator had; never an admin context. The
record is deleted with the stack.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from kumo.context import RequestContext
from kumo.db.identity_models import Project, User
from kumo.db.orchestration_models import StackDelegation
from kumo.identity import roles as rolelib
from kumo.orchestration.errors import ResourceFailure


def record(s: Session, stack_id: str, ctx: RequestContext) -> None:
    s.add(
        StackDelegation(
            stack_id=stack_id,
            user_id=ctx.user_id,
            project_id=ctx.project_id or "",
            roles=sorted(ctx.roles),
        )
    )


def context(s: Session, stack_id: str) -> RequestContext:
    """The creator's context for one operation of the (root) stack ``stack_id``."""
    d = s.get(StackDelegation, stack_id)
    if d is None:
        raise ResourceFailure("The stack has no delegation from its creator")
    user = s.get(User, d.user_id)
    project = s.get(Project, d.project_id)
    if user is None or not user.enabled:
        raise ResourceFailure("The stack's creator is disabled or gone")
    if project is None or not project.enabled:
        raise ResourceFailure("The stack's project is disabled or gone")
    held = {r.name for r in rolelib.effective_roles(s, user.id, "project", project.id)}
    roles = frozenset(set(d.roles) & held)
    if not roles:
        raise ResourceFailure("The stack's creator no longer has a role on its project")
    return RequestContext(
        user_id=user.id,
        user_name=user.name,
        user_domain_id=user.domain_id,
        project_id=project.id,
        project_name=project.name,
        project_domain_id=project.domain_id,
        roles=roles,
    )


def revoke(s: Session, stack_id: str) -> None:
    d = s.get(StackDelegation, stack_id)
    if d is not None:
        s.delete(d)
