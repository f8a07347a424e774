"""Role assignments: grants, effective roles for a scope, implied roles."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kumo.db.identity_models import Role, RoleAssignment

# Keystone's default inference rules: admin implies manager implies member
# implies reader.
IMPLIED = {"admin": ("manager",), "manager": ("member",), "member": ("reader",)}


def expand(names: set[str]) -> set[str]:
    out = set(names)
    todo = list(names)
    while todo:
        for implied in IMPLIED.get(todo.pop(), ()):
            if implied not in out:
                out.add(implied)
                todo.append(implied)
    return out


def scope_key(project_id: str | None, domain_id: str | None, system: bool) -> tuple[str, str]:
    if project_id:
        return ("project", project_id)
    if domain_id:
        return ("domain", domain_id)
    if system:
        return ("system", "all")
    return ("none", "")


def direct_roles(session: Session, user_id: str, target_type: str, target_id: str) -> list[Role]:
    return list(
        session.scalars(
            select(Role)
            .join(RoleAssignment, RoleAssignment.role_id == Role.id)
            .where(
                RoleAssignment.actor_id == user_id,
                RoleAssignment.target_type == target_type,
                RoleAssignment.target_id == target_id,
            )
            .order_by(Role.name)
        )
    )


def effective_roles(session: Session, user_id: str, target_type: str, target_id: str) -> list[Role]:
    """Direct roles plus the roles they imply, as Role rows (ordered by name)."""
    direct = direct_roles(session, user_id, target_type, target_id)
    if not direct:
        return []
    names = expand({r.name for r in direct})
    rows = session.scalars(select(Role).where(Role.name.in_(names), Role.domain_id.is_(None)))
    return sorted(rows, key=lambda r: r.name)


def grant(session: Session, user_id: str, target_type: str, target_id: str, role_id: str) -> None:
    exists = session.scalar(
        select(RoleAssignment.id).where(
            RoleAssignment.actor_id == user_id,
            RoleAssignment.target_type == target_type,
            RoleAssignment.target_id == target_id,
            RoleAssignment.role_id == role_id,
        )
    )
    if exists is None:
        session.add(
            RoleAssignment(
                actor_type="user",
                actor_id=user_id,
                target_type=target_type,
                target_id=target_id,
                role_id=role_id,
            )
        )


def revoke(session: Session, user_id: str, target_type: str, target_id: str, role_id: str) -> int:
    result = session.execute(
        delete(RoleAssignment).where(
            RoleAssignment.actor_id == user_id,
            RoleAssignment.target_type == target_type,
            RoleAssignment.target_id == target_id,
            RoleAssignment.role_id == role_id,
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
