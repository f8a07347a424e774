"""Identity administration: domains, projects, users, roles and grants.

Validation follows Keystone: names are required non-empty strings, names
are unique within their domain (409), unknown references are 404, and an
enabled domain cannot be deleted (403). Every change that should cut off
existing tokens records a revocation event.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.engine import Database
from kumo.db.identity_models import Domain, Project, Revocation, Role, RoleAssignment, User
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.errors import BadRequest, Conflict, Forbidden, KumoError, NotFound, Unauthorized, shown
from kumo.identity import roles as rolelib
from kumo.identity.passwords import hash_password, verify_password

T = TypeVar("T")
_MODELS: dict[str, Any] = {"domain": Domain, "project": Project, "user": User, "role": Role}


def _precise_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def missing(kind: str, ident: str) -> NotFound:
    return NotFound(f"Could not find {kind}: {ident}.", kind=f"{kind.capitalize()}NotFound")


def _name(body: dict[str, Any], required: bool = True, max_len: int = 255) -> str | None:
    if "name" not in body:
        if required:
            raise BadRequest("Invalid input for field 'name': 'name' is a required property")
        return None
    name = body["name"]
    if not isinstance(name, str) or not name.strip():
        raise BadRequest("Invalid input for field 'name': expected a non-empty string")
    if len(name) > max_len:
        raise BadRequest(
            f"Invalid input for field 'name': '{shown(name)}' is too long (max {max_len})"
        )
    return name


def _bool(body: dict[str, Any], key: str, default: bool | None = None) -> bool | None:
    if key not in body:
        return default
    if not isinstance(body[key], bool):
        raise BadRequest(f"Invalid input for field '{key}': {body[key]!r} is not of type 'boolean'")
    return bool(body[key])


def _str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"Invalid input for field '{key}': {value!r} is not of type 'string'")
    return value


USER_FIELDS = {
    "id", "name", "domain_id", "enabled", "default_project_id", "description", "email",
    "password", "options", "links", "password_expires_at",
}  # fmt: skip
PROJECT_FIELDS = {
    "id", "name", "domain_id", "enabled", "parent_id", "description", "tags", "is_domain",
    "options", "links",
}  # fmt: skip


def _extra(body: dict[str, Any], known: set[str]) -> dict[str, Any]:
    """Keystone keeps attributes it does not know and returns them as given."""
    return {k: v for k, v in body.items() if k not in known}


class IdentityAdmin:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._revocations_at = 0.0
        self._ctx_cache: dict[tuple[str, str, str], tuple[float, RequestContext]] = {}

    def _invalidate_caches(self) -> None:
        """After a change that can cut off tokens: re-read revocations, forget contexts."""
        self._revocations_at = 0.0
        self._ctx_cache.clear()

    def _write(self, kind: str, fn: Callable[[Session], T]) -> T:
        def work(uow: UnitOfWork) -> T:
            return fn(uow.session)

        try:
            result = run_in_transaction(self.db, work, attempts=3)
            self._invalidate_caches()
            return result
        except IntegrityError as exc:
            raise Conflict(
                f"Conflict occurred attempting to store {kind} - Duplicate entry found."
            ) from exc

    def get(self, kind: str, ident: str) -> Any:
        with self.db.read_session() as s:
            row = s.get(_MODELS[kind], ident)
            if row is None:
                raise missing(kind, ident)
            return row

    def list_rows(self, kind: str, **filters: Any) -> list[Any]:
        model = _MODELS[kind]
        with self.db.read_session() as s:
            query = select(model)
            for key, value in filters.items():
                if value is not None:
                    query = query.where(getattr(model, key) == value)
            return list(s.scalars(query.order_by(model.name)))

    # -- revocations ---------------------------------------------------------------------

    def add_revocation(
        self,
        *,
        audit_id: str | None = None,
        user_id: str | None = None,
        project_id: str | None = None,
        expires: float | None = None,
    ) -> None:
        until = dt.datetime.fromtimestamp(
            expires or time.time() + self.settings.token_ttl_seconds, dt.UTC
        ).replace(tzinfo=None)

        def work(s: Session) -> None:
            s.add(
                Revocation(
                    audit_id=audit_id,
                    user_id=user_id,
                    project_id=project_id,
                    issued_before=_precise_now(),
                    expires_at=until + dt.timedelta(seconds=5),
                )
            )

        self._write("revocation", work)
        self._invalidate_caches()

    # -- domains -------------------------------------------------------------------------

    def create_domain(self, body: dict[str, Any]) -> Domain:
        name = _name(body, max_len=64)

        def work(s: Session) -> Domain:
            if s.scalar(select(Domain.id).where(Domain.name == name)):
                raise Conflict(
                    f"Conflict occurred attempting to store domain - Duplicate entry found with name {name}."
                )
            dom = Domain(
                name=name,
                description=_str(body, "description") or "",
                enabled=_bool(body, "enabled", True),
            )
            if isinstance(body.get("id"), str) and body["id"]:
                dom.id = body["id"]
            s.add(dom)
            s.flush()
            return dom

        return self._write("domain", work)

    def update_domain(self, domain_id: str, body: dict[str, Any]) -> Domain:
        def work(s: Session) -> Domain:
            dom = s.get(Domain, domain_id)
            if dom is None:
                raise missing("domain", domain_id)
            if "name" in body:
                dom.name = _name(body, max_len=64) or dom.name
            if "description" in body:
                dom.description = _str(body, "description") or ""
            was = dom.enabled
            if "enabled" in body:
                dom.enabled = bool(_bool(body, "enabled"))
            if was and not dom.enabled:
                for uid in s.scalars(select(User.id).where(User.domain_id == dom.id)):
                    s.add(self._revocation(user_id=uid))
            return dom

        return self._write("domain", work)

    def delete_domain(self, domain_id: str) -> None:
        def work(s: Session) -> None:
            dom = s.get(Domain, domain_id)
            if dom is None:
                raise missing("domain", domain_id)
            if dom.enabled:
                raise Forbidden("Cannot delete a domain that is enabled, please disable it first.")
            for model in (User, Project):
                ids = list(s.scalars(select(model.id).where(model.domain_id == domain_id)))
                if ids:
                    s.execute(delete(RoleAssignment).where(RoleAssignment.actor_id.in_(ids)))
                    s.execute(delete(RoleAssignment).where(RoleAssignment.target_id.in_(ids)))
                    s.execute(delete(model).where(model.id.in_(ids)))
            s.execute(delete(RoleAssignment).where(RoleAssignment.target_id == domain_id))
            s.execute(delete(Role).where(Role.domain_id == domain_id))
            s.delete(dom)

        self._write("domain", work)

    # -- projects ------------------------------------------------------------------------

    def create_project(self, body: dict[str, Any]) -> Project:
        name = _name(body, max_len=64)
        domain_id = _str(body, "domain_id") or "default"
        parent_id = _str(body, "parent_id")
        tags = body.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise BadRequest("Invalid input for field 'tags': expected a list of strings")
        if body.get("is_domain") is True:
            raise BadRequest("Projects acting as domains are not supported.")

        def work(s: Session) -> Project:
            if s.get(Domain, domain_id) is None:
                raise missing("domain", domain_id)
            if parent_id and s.get(Project, parent_id) is None:
                raise missing("project", parent_id)
            if s.scalar(
                select(Project.id).where(Project.name == name, Project.domain_id == domain_id)
            ):
                raise Conflict(
                    f"Conflict occurred attempting to store project - it is not permitted to have two projects with the same name in the same domain : {name}."
                )
            proj = Project(
                name=name,
                domain_id=domain_id,
                parent_id=parent_id or domain_id,
                description=_str(body, "description") or "",
                enabled=_bool(body, "enabled", True),
                tags=list(tags),
                extra=_extra(body, PROJECT_FIELDS),
            )
            s.add(proj)
            s.flush()
            return proj

        return self._write("project", work)

    def update_project(self, project_id: str, body: dict[str, Any]) -> Project:
        if "domain_id" in body:
            raise BadRequest("Update of `domain_id` is not allowed.")

        def work(s: Session) -> Project:
            proj = s.get(Project, project_id)
            if proj is None:
                raise missing("project", project_id)
            if "name" in body:
                proj.name = _name(body, max_len=64) or proj.name
            if "description" in body:
                proj.description = _str(body, "description") or ""
            if "tags" in body:
                if not isinstance(body["tags"], list):
                    raise BadRequest("Invalid input for field 'tags'")
                proj.tags = list(body["tags"])
            extra = _extra(body, PROJECT_FIELDS)
            if extra:
                proj.extra = {**(proj.extra or {}), **extra}
            was = proj.enabled
            if "enabled" in body:
                proj.enabled = bool(_bool(body, "enabled"))
            if was and not proj.enabled:
                s.add(self._revocation(project_id=proj.id))
            return proj

        return self._write("project", work)

    def delete_project(self, project_id: str) -> None:
        def work(s: Session) -> None:
            proj = s.get(Project, project_id)
            if proj is None:
                raise missing("project", project_id)
            s.execute(delete(RoleAssignment).where(RoleAssignment.target_id == project_id))
            s.add(self._revocation(project_id=project_id))
            s.delete(proj)

        self._write("project", work)

    # -- users ---------------------------------------------------------------------------

    def create_user(self, body: dict[str, Any]) -> User:
        name = _name(body)
        domain_id = _str(body, "domain_id") or "default"
        password = _str(body, "password")

        def work(s: Session) -> User:
            if s.get(Domain, domain_id) is None:
                raise missing("domain", domain_id)
            default_project = _str(body, "default_project_id")
            if s.scalar(select(User.id).where(User.name == name, User.domain_id == domain_id)):
                raise Conflict(
                    f"Conflict occurred attempting to store user - Duplicate entry found with name {name} at domain ID {domain_id}."
                )
            user = User(
                name=name,
                domain_id=domain_id,
                enabled=_bool(body, "enabled", True),
                default_project_id=default_project,
                description=_str(body, "description") or "",
                email=_str(body, "email"),
                password_hash=hash_password(password) if password else None,
                extra=_extra(body, USER_FIELDS),
            )
            s.add(user)
            s.flush()
            return user

        return self._write("user", work)

    def update_user(self, user_id: str, body: dict[str, Any]) -> User:
        def work(s: Session) -> User:
            user = s.get(User, user_id)
            if user is None:
                raise missing("user", user_id)
            if "name" in body:
                user.name = _name(body) or user.name
            for key in ("description", "email", "default_project_id"):
                if key in body:
                    setattr(user, key, _str(body, key) or ("" if key == "description" else None))
            extra = _extra(body, USER_FIELDS)
            if extra:
                user.extra = {**(user.extra or {}), **extra}
            revoke = False
            if "password" in body:
                pw = _str(body, "password")
                user.password_hash = hash_password(pw) if pw else None
                revoke = True
            if "enabled" in body:
                enabled = bool(_bool(body, "enabled"))
                revoke = revoke or (user.enabled and not enabled)
                user.enabled = enabled
            if revoke:
                s.add(self._revocation(user_id=user.id))
            return user

        return self._write("user", work)

    def change_password(self, user_id: str, original: Any, new: Any) -> None:
        if not isinstance(original, str) or not isinstance(new, str) or not new:
            raise BadRequest("Invalid input: original_password and password are required strings")
        with self.db.read_session() as s:
            user = s.get(User, user_id)
            if user is None:
                raise missing("user", user_id)
            if not verify_password(original, user.password_hash):
                raise Unauthorized("The request you have made requires authentication.")
        self.update_user(user_id, {"password": new})

    def delete_user(self, user_id: str) -> None:
        def work(s: Session) -> None:
            user = s.get(User, user_id)
            if user is None:
                raise missing("user", user_id)
            s.execute(delete(RoleAssignment).where(RoleAssignment.actor_id == user_id))
            s.add(self._revocation(user_id=user_id))
            s.delete(user)

        self._write("user", work)

    def user_projects(self, user_id: str) -> list[Project]:
        with self.db.read_session() as s:
            if s.get(User, user_id) is None:
                raise missing("user", user_id)
            ids = s.scalars(
                select(RoleAssignment.target_id).where(
                    RoleAssignment.actor_id == user_id, RoleAssignment.target_type == "project"
                )
            ).all()
            return list(
                s.scalars(select(Project).where(Project.id.in_(set(ids))).order_by(Project.name))
            )

    def user_domains(self, user_id: str) -> list[Domain]:
        with self.db.read_session() as s:
            ids = s.scalars(
                select(RoleAssignment.target_id).where(
                    RoleAssignment.actor_id == user_id, RoleAssignment.target_type == "domain"
                )
            ).all()
            return list(
                s.scalars(select(Domain).where(Domain.id.in_(set(ids))).order_by(Domain.name))
            )

    # -- roles and grants ----------------------------------------------------------------

    def create_role(self, body: dict[str, Any]) -> Role:
        name = _name(body)
        domain_id = _str(body, "domain_id")

        def work(s: Session) -> Role:
            clause = Role.domain_id.is_(None) if domain_id is None else Role.domain_id == domain_id
            if s.scalar(select(Role.id).where(Role.name == name, clause)):
                raise Conflict(
                    f"Conflict occurred attempting to store role - Duplicate entry found with name {name}."
                )
            role = Role(name=name, domain_id=domain_id, description=_str(body, "description") or "")
            s.add(role)
            s.flush()
            return role

        return self._write("role", work)

    def update_role(self, role_id: str, body: dict[str, Any]) -> Role:
        def work(s: Session) -> Role:
            role = s.get(Role, role_id)
            if role is None:
                raise missing("role", role_id)
            if "name" in body:
                role.name = _name(body) or role.name
            if "description" in body:
                role.description = _str(body, "description") or ""
            return role

        return self._write("role", work)

    def delete_role(self, role_id: str) -> None:
        def work(s: Session) -> None:
            role = s.get(Role, role_id)
            if role is None:
                raise missing("role", role_id)
            for uid, _target in s.execute(
                select(RoleAssignment.actor_id, RoleAssignment.target_id).where(
                    RoleAssignment.role_id == role_id
                )
            ):
                s.add(self._revocation(user_id=uid))
            s.execute(delete(RoleAssignment).where(RoleAssignment.role_id == role_id))
            s.delete(role)

        self._write("role", work)

    def _check_target(self, s: Session, target_type: str, target_id: str) -> None:
        if target_type == "project" and s.get(Project, target_id) is None:
            raise missing("project", target_id)
        if target_type == "domain" and s.get(Domain, target_id) is None:
            raise missing("domain", target_id)

    def grant(self, user_id: str, target_type: str, target_id: str, role_id: str) -> None:
        def work(s: Session) -> None:
            self._check_target(s, target_type, target_id)
            if s.get(User, user_id) is None:
                raise missing("user", user_id)
            if s.get(Role, role_id) is None:
                raise missing("role", role_id)
            rolelib.grant(s, user_id, target_type, target_id, role_id)

        self._write("grant", work)
        self._invalidate_caches()

    def revoke_grant(self, user_id: str, target_type: str, target_id: str, role_id: str) -> None:
        def work(s: Session) -> None:
            self._check_target(s, target_type, target_id)
            if rolelib.revoke(s, user_id, target_type, target_id, role_id) == 0:
                raise NotFound(
                    f"Could not find role assignment with role: {role_id}, user or group: "
                    f"{user_id}, project, domain, or system: {target_id}.",
                    kind="RoleAssignmentNotFound",
                )
            s.add(
                self._revocation(
                    user_id=user_id, project_id=target_id if target_type == "project" else None
                )
            )

        self._write("grant", work)
        self._invalidate_caches()

    def has_grant(self, user_id: str, target_type: str, target_id: str, role_id: str) -> bool:
        with self.db.read_session() as s:
            self._check_target(s, target_type, target_id)
            return role_id in {
                r.id for r in rolelib.direct_roles(s, user_id, target_type, target_id)
            }

    def grants(self, user_id: str, target_type: str, target_id: str) -> list[Role]:
        with self.db.read_session() as s:
            self._check_target(s, target_type, target_id)
            if s.get(User, user_id) is None:
                raise missing("user", user_id)
            return rolelib.direct_roles(s, user_id, target_type, target_id)

    def assignments(
        self,
        *,
        user_id: str | None = None,
        project_id: str | None = None,
        domain_id: str | None = None,
        system: bool = False,
        role_id: str | None = None,
        effective: bool = False,
    ) -> list[tuple[RoleAssignment, Role]]:
        with self.db.read_session() as s:
            q = select(RoleAssignment, Role).join(Role, Role.id == RoleAssignment.role_id)
            if user_id:
                q = q.where(RoleAssignment.actor_id == user_id)
            if project_id:
                q = q.where(
                    RoleAssignment.target_type == "project", RoleAssignment.target_id == project_id
                )
            if domain_id:
                q = q.where(
                    RoleAssignment.target_type == "domain", RoleAssignment.target_id == domain_id
                )
            if system:
                q = q.where(RoleAssignment.target_type == "system")
            rows = [(a, r) for a, r in s.execute(q.order_by(RoleAssignment.id))]
            if effective:
                rows = self._with_implied(s, rows)
            if role_id:
                rows = [(a, r) for a, r in rows if r.id == role_id]
            return rows

    def _with_implied(
        self, s: Session, rows: list[tuple[RoleAssignment, Role]]
    ) -> list[tuple[RoleAssignment, Role]]:
        by_name = {r.name: r for r in s.scalars(select(Role).where(Role.domain_id.is_(None)))}
        out: list[tuple[RoleAssignment, Role]] = []
        seen: set[tuple[str, str, str, str]] = set()
        for a, r in rows:
            for name in sorted(rolelib.expand({r.name})):
                role = by_name.get(name, r if name == r.name else None)
                if role is None:
                    continue
                key = (a.actor_id, a.target_type, a.target_id, role.id)
                if key in seen:
                    continue
                seen.add(key)
                out.append((a, role))
        return out

    def _revocation(self, **kw: str | None) -> Revocation:
        until = dt.datetime.fromtimestamp(
            time.time() + self.settings.token_ttl_seconds + 5, dt.UTC
        ).replace(tzinfo=None)
        return Revocation(issued_before=_precise_now(), expires_at=until, **kw)


__all__ = ["IdentityAdmin", "KumoError", "missing"]
