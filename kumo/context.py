"""Who is calling: the typed result of token validation, passed to services."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RequestContext:
    user_id: str
    user_name: str = ""
    user_domain_id: str = "default"
    project_id: str | None = None
    project_name: str | None = None
    project_domain_id: str | None = None
    domain_id: str | None = None
    """Set for domain-scoped tokens."""
    system_scope: bool = False
    roles: frozenset[str] = field(default_factory=frozenset)
    token_id: str = ""
    audit_id: str = ""
    agent_host: str | None = None
    """The host an agent's credential speaks for (set for enrolled agents)."""

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def is_service(self) -> bool:
        return "service" in self.roles or self.is_admin

    def owns(self, project_id: str | None) -> bool:
        return self.is_admin or (project_id is not None and project_id == self.project_id)


def admin_context() -> RequestContext:
    """A context for internal callers (bootstrap, the lab) acting as admin."""
    return RequestContext(user_id="kumo-internal", roles=frozenset({"admin", "member", "reader"}))
