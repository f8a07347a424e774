"""Agents' own credentials: one user per host, and the host each may act for.

Enrolling host ``H`` (``kumo agent enroll --host H``, an admin's act)
makes, or resets, user ``agent-H`` in project ``service`` with role
``service`` and nothing else, and records that the user speaks for ``H``.
The internal API reads that record (``host_of``) to decide what a caller
may report and read; it never takes the host from the request.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, replace

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kumo.context import RequestContext
from kumo.db.agent_models import AgentCredential
from kumo.db.identity_models import Project, Role, RoleAssignment, User
from kumo.errors import Forbidden, InvalidInput, NotFound
from kumo.identity import roles as rolelib
from kumo.identity.passwords import hash_password
from kumo.policy import allowed, authorize, unrestricted

USER_PREFIX = "agent-"
PROJECT = "service"
DOMAIN = "default"


@dataclass(frozen=True)
class Enrolled:
    host: str
    user_id: str
    user_name: str
    password: str
    project_name: str = PROJECT
    domain_id: str = DOMAIN


def check_host_name(host: object) -> str:
    if (
        not isinstance(host, str)
        or not host
        or len(host) > 255 - len(USER_PREFIX)
        or not host.isprintable()
        or any(c.isspace() for c in host)
    ):
        raise InvalidInput(f"'{host}' is not a valid host name")
    return host


def enroll(session: Session, host: str) -> Enrolled:
    """Make or reset the credential of ``host``: a new password, role
    ``service`` on project ``service`` as its only role assignment. The
    caller revokes the user's earlier tokens."""
    host = check_host_name(host)
    project = session.scalar(
        select(Project).where(Project.name == PROJECT, Project.domain_id == DOMAIN)
    )
    role = session.scalar(select(Role).where(Role.name == "service", Role.domain_id.is_(None)))
    if project is None or role is None:
        raise NotFound("Identity is not bootstrapped.")
    name = USER_PREFIX + host
    user = session.scalar(select(User).where(User.name == name, User.domain_id == DOMAIN))
    if user is None:
        user = User(name=name, domain_id=DOMAIN, description=f"kumo agent of host {host}")
        session.add(user)
    password = secrets.token_urlsafe(24)
    user.password_hash = hash_password(password)
    user.default_project_id = project.id
    user.enabled = True
    session.flush()
    session.execute(delete(RoleAssignment).where(RoleAssignment.actor_id == user.id))
    rolelib.grant(session, user.id, "project", project.id, role.id)
    session.execute(
        delete(AgentCredential).where(
            (AgentCredential.host == host) | (AgentCredential.user_id == user.id)
        )
    )
    session.flush()
    session.add(AgentCredential(host=host, user_id=user.id))
    return Enrolled(host=host, user_id=user.id, user_name=name, password=password)


def host_of(session: Session, user_id: str) -> str | None:
    """The host the user was enrolled for (None: not an agent's credential)."""
    return session.scalar(select(AgentCredential.host).where(AgentCredential.user_id == user_id))


def authorize_hosts(
    session: Session, ctx: RequestContext, hosts: Iterable[str], rule: str = "internal:report"
) -> None:
    """The policy table's ``rule`` for objects bound to ``hosts`` ("" for
    unbound): admins pass for any host; an agent's credential only for the
    host it was enrolled for (recorded here, never taken from a request);
    any other caller for none. 403 otherwise."""
    if unrestricted(ctx, rule):
        return
    mine = host_of(session, ctx.user_id)
    if mine is None:
        raise Forbidden(
            "This credential speaks for no host: agents use the credential of `kumo agent enroll`."
        )
    agent = replace(ctx, agent_host=mine)
    others = sorted({h or "(unbound)" for h in hosts if not allowed(agent, rule, {"host": h})})
    if others:
        raise Forbidden(f"The agent of host {mine} may not act for host {', '.join(others)}.")


def authorize_enrolment(ctx: RequestContext) -> None:
    """Only admins enrol hosts (and so make or reset agents' credentials)."""
    authorize(ctx, "internal:enroll_agent")
