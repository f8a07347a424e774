"""Rules: a named check, what it is for, and the API operations it guards.

The building blocks the table is written with are here, in the shape of
OpenStack's secure-RBAC defaults: a project ``reader`` reads, a project
``member`` reads and writes its project's things, ``admin`` does
everything, ``service`` speaks for the cloud's own agents.
"""

from __future__ import annotations

from dataclasses import dataclass

from kumo.policy.checks import Authenticated, Check, Public, Role, flag, project_of, same_user

ADMIN = Role("admin")
SERVICE = Role("service")
READER = Role("reader")
MEMBER = Role("member")
OWNER = project_of("project_id")

PUBLIC: Check = Public()
ANY: Check = Authenticated()
PROJECT_READER = READER & OWNER
PROJECT_MEMBER = MEMBER & OWNER
ADMIN_OR_READER = ADMIN | PROJECT_READER
ADMIN_OR_MEMBER = ADMIN | PROJECT_MEMBER
ADMIN_OR_SERVICE = ADMIN | SERVICE
NETWORK_OWNER = project_of("network:project_id")
NET_OWNER_MEMBER = MEMBER & NETWORK_OWNER
NET_OWNER_READER = READER & NETWORK_OWNER
SHARED_READER = READER & flag("shared")
ADMIN_OR_SELF = ADMIN | same_user("user_id")


@dataclass(frozen=True)
class Rule:
    name: str
    """``domain:action`` or ``domain:action:attribute`` for attribute rules."""
    check: Check
    description: str
    operations: tuple[str, ...] = ()
    """``"METHOD /path"`` of every route this rule guards ("" for attribute rules)."""
    hidden: str = "403"
    """What a caller refused by the owner part of the check sees: "403", or
    "404" where the API hides other projects' things (Neutron, Nova)."""


def rule(name: str, check: Check, description: str, *operations: str, hidden: str = "403") -> Rule:
    return Rule(name, check, description, tuple(operations), hidden)
