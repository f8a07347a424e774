"""IdentityService: authentication, token validation and bootstrap.

CRUD of domains, projects, users and roles lives in ``admin.py``; this
module is what every other API leans on: ``validate_token`` runs on every
request, so it decrypts, then answers from short-lived in-memory caches
(revocation events refreshed at most every ``REVOCATION_REFRESH`` seconds,
so a revocation made through another API server counts here within that
time; role lookups per user and scope for two seconds).
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.engine import Database
from kumo.db.identity_models import Domain, Project, Revocation, Role, User
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.errors import BadRequest, NotFound, Unauthorized
from kumo.identity import agent_credentials
from kumo.identity import keys as keylib
from kumo.identity import roles as rolelib
from kumo.identity.admin import IdentityAdmin
from kumo.identity.passwords import hash_password, verify_password
from kumo.identity.tokens import TokenCodec, TokenPayload

AUTH_FAILED = "The request you have made requires authentication."
DEFAULT_DOMAIN = "default"
ROLE_NAMES = ("admin", "manager", "member", "reader", "service")
"""Keystone's default roles (``keystone-manage bootstrap``), ``manager`` included."""
REVOCATION_REFRESH = 0.5
"""Seconds a process trusts its copy of the revocation list."""


@dataclass(frozen=True)
class ScopeInfo:
    user: User
    user_domain: Domain
    project: Project | None
    domain: Domain | None
    project_domain: Domain | None
    roles: tuple[Role, ...]


class IdentityService(IdentityAdmin):
    def __init__(self, db: Database, settings: Settings) -> None:
        super().__init__(db, settings)
        self.codec = TokenCodec(keylib.KeyRing(db, "token", max_age=settings.key_refresh_seconds))
        self._lock = threading.Lock()
        self._revocations: list[tuple[str | None, str | None, str | None, float]] = []
        self._payloads: dict[str, TokenPayload] = {}
        """Decrypted tokens by token text: a token's content never changes,
        but its key may be pruned: forgotten when the key ring loses a key."""
        self._keys_generation = 0

    # -- bootstrap -----------------------------------------------------------------------

    def bootstrap(self, admin_password: str | None = None) -> str | None:
        """Create the default domain, projects, roles, admin user and signing keys once.

        Returns the admin's password (``admin_password`` or a generated one)
        when this call created the admin user, None when it existed: an
        existing admin's password is never changed, so any number of API
        servers may bootstrap the same database, at once or one by one.
        """

        def work(uow: UnitOfWork) -> str | None:
            s = uow.session
            if not self.db.is_sqlite:  # SQLite serialises writers already
                s.execute(text("SELECT pg_advisory_xact_lock(4242002)"))
            if s.get(Domain, DEFAULT_DOMAIN) is None:
                s.add(Domain(id=DEFAULT_DOMAIN, name="Default", description="The default domain"))
                s.flush()
            role_ids = {}
            for name in ROLE_NAMES:
                role = s.scalar(select(Role).where(Role.name == name, Role.domain_id.is_(None)))
                if role is None:
                    role = Role(name=name)
                    s.add(role)
                    s.flush()
                role_ids[name] = role.id
            projects = {}
            for name in ("admin", "service"):
                proj = s.scalar(
                    select(Project).where(Project.name == name, Project.domain_id == DEFAULT_DOMAIN)
                )
                if proj is None:
                    proj = Project(name=name, domain_id=DEFAULT_DOMAIN, description="")
                    s.add(proj)
                    s.flush()
                projects[name] = proj.id
            admin = s.scalar(
                select(User).where(User.name == "admin", User.domain_id == DEFAULT_DOMAIN)
            )
            password = None
            if admin is None:
                password = admin_password or secrets.token_urlsafe(18)
                admin = User(
                    name="admin",
                    domain_id=DEFAULT_DOMAIN,
                    password_hash=hash_password(password),
                    default_project_id=projects["admin"],
                )
                s.add(admin)
                s.flush()
            rolelib.grant(s, admin.id, "project", projects["admin"], role_ids["admin"])
            rolelib.grant(s, admin.id, "system", "all", role_ids["admin"])
            return password

        password = run_in_transaction(self.db, work)
        for purpose in keylib.PURPOSES:
            keylib.ensure(self.db, purpose)
        return password

    def create_service_user(self, name: str, *, admin: bool = False) -> str:
        """A user in Default with role ``service`` (and ``admin`` when asked)
        on project ``service``; a new password."""
        password = secrets.token_urlsafe(18)

        def work(uow: UnitOfWork) -> None:
            s = uow.session
            service = s.scalar(
                select(Project).where(
                    Project.name == "service", Project.domain_id == DEFAULT_DOMAIN
                )
            )
            role = s.scalar(select(Role).where(Role.name == "service", Role.domain_id.is_(None)))
            if service is None or role is None:
                raise NotFound("Identity is not bootstrapped.")
            user = s.scalar(select(User).where(User.name == name, User.domain_id == DEFAULT_DOMAIN))
            if user is None:
                user = User(name=name, domain_id=DEFAULT_DOMAIN, default_project_id=service.id)
                s.add(user)
            user.password_hash = hash_password(password)
            s.flush()
            rolelib.grant(s, user.id, "project", service.id, role.id)
            if admin:
                admin_role = s.scalar(
                    select(Role).where(Role.name == "admin", Role.domain_id.is_(None))
                )
                if admin_role is None:
                    raise NotFound("Identity is not bootstrapped.")
                rolelib.grant(s, user.id, "project", service.id, admin_role.id)

        run_in_transaction(self.db, work)
        return password

    def enroll_agent(self, host: str) -> agent_credentials.Enrolled:
        """Make or reset the credential of ``host``'s agent; its earlier tokens stop working."""

        def work(s: Session) -> agent_credentials.Enrolled:
            made = agent_credentials.enroll(s, host)
            s.add(self._revocation(user_id=made.user_id))
            return made

        return self._write("agent credential", work)

    # -- authentication ------------------------------------------------------------------

    def authenticate(self, auth: dict[str, Any]) -> tuple[str, TokenPayload]:
        """``POST /v3/auth/tokens``: check the identity, resolve the scope, issue."""
        if not isinstance(auth, dict):
            raise BadRequest("Expecting to find auth in request body.")
        identity = auth.get("identity")
        if not isinstance(identity, dict) or not isinstance(identity.get("methods"), list):
            raise BadRequest("Expecting to find identity in auth.")
        methods = tuple(identity["methods"])
        if not methods:
            raise BadRequest("Expecting to find methods in identity.")
        scope = auth.get("scope")
        expires_at = None
        parent_audit = None
        with self.db.read_session() as s:
            if "password" in methods:
                user = self._password_user(s, identity.get("password"))
            elif "token" in methods:
                tok = identity.get("token")
                if not isinstance(tok, dict) or not isinstance(tok.get("id"), str):
                    raise BadRequest("Expecting to find id in token.")
                payload = self._decode_valid(tok["id"])
                found = s.get(User, payload.user_id)
                if found is None:
                    raise Unauthorized(AUTH_FAILED)
                user = found
                expires_at = payload.expires_at
                parent_audit = payload.audit_id
                methods = tuple(dict.fromkeys((*payload.methods, "token")))
            else:
                raise Unauthorized(
                    f"Attempted to authenticate with an unsupported method: {methods}"
                )
            if not user.enabled or not self._domain_enabled(s, user.domain_id):
                raise Unauthorized(AUTH_FAILED)
            project_id, domain_id, system = self._resolve_scope(s, user, scope)
            if scope is None and user.default_project_id:
                proj = s.get(Project, user.default_project_id)
                if (
                    proj is not None
                    and proj.enabled
                    and rolelib.direct_roles(s, user.id, "project", proj.id)
                ):
                    project_id = proj.id
            target = rolelib.scope_key(project_id, domain_id, system)
            if target[0] != "none" and not rolelib.direct_roles(s, user.id, *target):
                raise Unauthorized(
                    f"User {user.id} has no access to {target[0]} {target[1]}"
                    if target[0] != "system"
                    else f"User {user.id} has no access to the system"
                )
        return self.codec.issue(
            user.id,
            methods,
            project_id=project_id,
            domain_id=domain_id,
            system=system,
            ttl=self.settings.token_ttl_seconds,
            expires_at=expires_at,
            parent_audit_id=parent_audit,
        )

    def _password_user(self, s: Session, pw: Any) -> User:
        if not isinstance(pw, dict) or not isinstance(pw.get("user"), dict):
            raise BadRequest("Expecting to find user in password.")
        spec = pw["user"]
        password = spec.get("password")
        if not isinstance(password, str):
            raise BadRequest("Expecting to find password in user.")
        user: User | None
        if isinstance(spec.get("id"), str):
            user = s.get(User, spec["id"])
        elif isinstance(spec.get("name"), str):
            domain_id = self._domain_ref(s, spec.get("domain"))
            user = s.scalar(
                select(User).where(User.name == spec["name"], User.domain_id == domain_id)
            )
        else:
            raise BadRequest("Expecting to find id or name in user.")
        if user is None or not verify_password(password, user.password_hash):
            raise Unauthorized(AUTH_FAILED)
        return user

    def _domain_ref(self, s: Session, ref: Any) -> str:
        if not isinstance(ref, dict):
            raise BadRequest("Expecting to find domain in user or project.")
        if isinstance(ref.get("id"), str):
            return str(ref["id"])
        if isinstance(ref.get("name"), str):
            dom = s.scalar(select(Domain).where(Domain.name == ref["name"]))
            if dom is None:
                raise Unauthorized(AUTH_FAILED)
            return dom.id
        raise BadRequest("Expecting to find id or name in domain.")

    def _domain_enabled(self, s: Session, domain_id: str) -> bool:
        dom = s.get(Domain, domain_id)
        return dom is not None and dom.enabled

    def _resolve_scope(
        self, s: Session, user: User, scope: Any
    ) -> tuple[str | None, str | None, bool]:
        if scope is None or scope == "unscoped":
            return None, None, False
        if not isinstance(scope, dict):
            raise BadRequest("Invalid scope.")
        if "project" in scope:
            ref = scope["project"]
            if not isinstance(ref, dict):
                raise BadRequest("Invalid project scope.")
            if isinstance(ref.get("id"), str):
                proj = s.get(Project, ref["id"])
            elif isinstance(ref.get("name"), str):
                dom = self._domain_ref(s, ref.get("domain"))
                proj = s.scalar(
                    select(Project).where(Project.name == ref["name"], Project.domain_id == dom)
                )
            else:
                raise BadRequest("Expecting to find id or name in project.")
            if proj is None or not proj.enabled or not self._domain_enabled(s, proj.domain_id):
                raise Unauthorized(AUTH_FAILED)
            return proj.id, None, False
        if "domain" in scope:
            ref = scope["domain"]
            scoped = s.get(Domain, self._domain_ref(s, ref))
            if scoped is None or not scoped.enabled:
                raise Unauthorized(AUTH_FAILED)
            return None, scoped.id, False
        if "system" in scope:
            if scope["system"] != {"all": True}:
                raise BadRequest("Invalid system scope.")
            return None, None, True
        raise BadRequest("Invalid scope.")

    # -- validation ----------------------------------------------------------------------

    def _decode_valid(self, token: str, *, fresh: bool = False) -> TokenPayload:
        payload = self.codec.decode(token)
        if self._revoked(payload, fresh=fresh):
            raise Unauthorized(AUTH_FAILED)
        return payload

    def _revoked(self, payload: TokenPayload, *, fresh: bool = False) -> bool:
        """Against the revocation list, re-read when older than
        ``REVOCATION_REFRESH`` (every time when ``fresh``: another API
        process may have just revoked it)."""
        now = time.monotonic()
        if fresh or now - self._revocations_at > REVOCATION_REFRESH:
            with self.db.read_session() as s:
                rows = s.execute(
                    select(
                        Revocation.audit_id,
                        Revocation.user_id,
                        Revocation.project_id,
                        Revocation.issued_before,
                    ).where(Revocation.expires_at > utcnow())
                ).all()
            with self._lock:
                self._revocations = [
                    (a, u, p, ib.replace(tzinfo=dt.UTC).timestamp()) for a, u, p, ib in rows
                ]
                self._revocations_at = now
        return self._listed(payload)

    def _listed(self, payload: TokenPayload) -> bool:
        """Whether the revocation list in memory covers the token."""
        for audit_id, user_id, project_id, issued_before in self._revocations:
            if payload.issued_at > issued_before:
                continue
            if audit_id and audit_id not in (payload.audit_id, payload.parent_audit_id):
                continue
            if user_id and user_id != payload.user_id:
                continue
            if project_id and project_id != payload.project_id:
                continue
            return True
        return False

    def cached_context(self, token: str) -> RequestContext | None:
        """The caller from memory alone, or None when that needs the database.

        Answers only while the context (two seconds), the revocation list
        (``REVOCATION_REFRESH``) and the signing keys (``key_refresh_seconds``)
        are fresh, so it decides exactly as
        ``validate_token`` would; it never blocks, so it can run on the
        event loop.
        """
        hit = self._ctx_cache.get((token, "", ""))
        now = time.monotonic()
        if (
            hit is None
            or now - hit[0] >= 2.0
            or now - self._revocations_at > REVOCATION_REFRESH
            or not self.codec.keys.fresh()
        ):
            return None
        payload = self._payloads.get(token)
        if payload is None:
            return None
        if payload.expires_at <= time.time() or self._listed(payload):
            raise Unauthorized(AUTH_FAILED)
        return hit[1]

    def validate_token(self, token: str) -> RequestContext:
        generation = self.codec.keys.current_generation()
        if generation != self._keys_generation:  # a key was pruned: decrypt everything again
            self._payloads.clear()
            self._ctx_cache.clear()
            self._keys_generation = generation
        payload = self._payloads.get(token)
        if payload is None or payload.expires_at <= time.time():
            payload = self.codec.decode(token)
            if len(self._payloads) > 10000:
                self._payloads.clear()
            self._payloads[token] = payload
        if self._revoked(payload):
            raise Unauthorized(AUTH_FAILED)
        key = (token, "", "")
        hit = self._ctx_cache.get(key)
        now = time.monotonic()
        if hit and now - hit[0] < 2.0:
            return hit[1]
        info = self.scope_info(payload)
        ctx = RequestContext(
            user_id=info.user.id,
            user_name=info.user.name,
            user_domain_id=info.user.domain_id,
            project_id=info.project.id if info.project else None,
            project_name=info.project.name if info.project else None,
            project_domain_id=info.project.domain_id if info.project else None,
            domain_id=info.domain.id if info.domain else None,
            system_scope=payload.system,
            roles=frozenset(r.name for r in info.roles),
            token_id=token,
            audit_id=payload.audit_id,
        )
        if len(self._ctx_cache) > 10000:
            self._ctx_cache.clear()
        self._ctx_cache[key] = (now, ctx)
        return ctx

    def scope_info(self, payload: TokenPayload) -> ScopeInfo:
        """Everything a token body shows; Unauthorized if any part is gone or disabled."""
        with self.db.read_session() as s:
            user = s.get(User, payload.user_id)
            if user is None or not user.enabled:
                raise Unauthorized(AUTH_FAILED)
            user_domain = s.get(Domain, user.domain_id)
            if user_domain is None or not user_domain.enabled:
                raise Unauthorized(AUTH_FAILED)
            project = domain = project_domain = None
            if payload.project_id:
                project = s.get(Project, payload.project_id)
                if project is None or not project.enabled:
                    raise Unauthorized(AUTH_FAILED)
                project_domain = s.get(Domain, project.domain_id)
            if payload.domain_id:
                domain = s.get(Domain, payload.domain_id)
                if domain is None or not domain.enabled:
                    raise Unauthorized(AUTH_FAILED)
            target = rolelib.scope_key(payload.project_id, payload.domain_id, payload.system)
            roles: list[Role] = []
            if target[0] != "none":
                roles = rolelib.effective_roles(s, user.id, *target)
                if not roles:
                    raise Unauthorized(AUTH_FAILED)
            return ScopeInfo(user, user_domain, project, domain, project_domain, tuple(roles))

    def check_subject_token(self, token: str) -> tuple[TokenPayload, ScopeInfo]:
        """For GET/HEAD /v3/auth/tokens: a bad subject token is 404 there."""
        try:
            payload = self._decode_valid(token, fresh=True)
            return payload, self.scope_info(payload)
        except Unauthorized as exc:
            raise NotFound("Failed to validate token", kind="TokenNotFound") from exc

    def revoke_token(self, token: str) -> None:
        payload, _ = self.check_subject_token(token)
        self.add_revocation(audit_id=payload.audit_id, expires=payload.expires_at)
