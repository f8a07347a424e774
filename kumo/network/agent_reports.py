"""What agents tell the API: registration, heartbeats, port status, HA states,
metering counts.

Each is accepted only for objects bound to the reporting agent's host (the
host its credential was enrolled for, see
``identity.agent_credentials.authorize_hosts``): an agent registers and
beats for its own host, reports the status of ports bound to its host,
and the HA state of routers scheduled to its host. Admins may report for
any host, as before.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.agent_models import Agent
from kumo.db.l3_models import RouterAgentBinding
from kumo.db.network_models import Port
from kumo.db.uow import UnitOfWork
from kumo.errors import Forbidden, not_found
from kumo.identity.agent_credentials import authorize_hosts
from kumo.network import agents
from kumo.network.l3 import scheduler as l3_scheduler
from kumo.network.ports import ports
from kumo.policy import unrestricted


def _agent(session: Session, agent_id: str) -> Agent:
    agent = session.get(Agent, agent_id)
    if agent is None:
        raise not_found("agent", agent_id)
    return agent


def register(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, body: dict[str, Any]
) -> Agent:
    host = body.get("host")
    authorize_hosts(
        uow.session, ctx, [host if isinstance(host, str) else ""], "internal:register_agent"
    )
    return agents.register(uow, settings, body)


def heartbeat(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, agent_id: str, body: dict[str, Any]
) -> Agent:
    authorize_hosts(uow.session, ctx, [_agent(uow.session, agent_id).host])
    return agents.heartbeat(uow, settings, agent_id, body)


def ha_states(
    uow: UnitOfWork,
    settings: Settings,
    ctx: RequestContext,
    agent_id: str,
    states: dict[str, str],
) -> list[str]:
    """Record an agent's HA states; every router named must be scheduled to
    the agent's host (admins' reports skip routers that are not)."""
    s = uow.session
    agent = _agent(s, agent_id)
    authorize_hosts(s, ctx, [agent.host])
    if states and not unrestricted(ctx, "internal:report"):
        bound = set(
            s.scalars(
                select(RouterAgentBinding.router_id).where(
                    RouterAgentBinding.agent_id == agent.id,
                    RouterAgentBinding.router_id.in_(list(states)),
                )
            )
        )
        stray = sorted(set(states) - bound)
        if stray:
            raise Forbidden(
                f"Routers {', '.join(stray)} are not scheduled to host {agent.host}: "
                "its agent may not report their HA state."
            )
    return l3_scheduler.report_states(uow, settings, agent_id, states)


def metering(
    uow: UnitOfWork, ctx: RequestContext, agent_id: str, counts: dict[str, tuple[int, int]]
) -> int:
    """Record the metering totals an agent's host counted (per label)."""
    from kumo.network.metering import counts as metering_counts

    agent = _agent(uow.session, agent_id)
    authorize_hosts(uow.session, ctx, [agent.host])
    return metering_counts.record(uow, agent.host, counts)


def port_status(
    uow: UnitOfWork, ctx: RequestContext, active: list[str], down: list[str]
) -> list[str]:
    """Set the status of wired (``active``) and unwired (``down``) ports, all
    bound to the caller's host; ports that no longer exist are skipped. The
    ids whose status changed."""
    s = uow.session
    ids = [*active, *down]
    if ids and not unrestricted(ctx, "internal:report"):
        authorize_hosts(s, ctx, set(s.scalars(select(Port.host).where(Port.id.in_(ids)))))
    changed = ports.set_status(uow, active, "ACTIVE") if active else []
    return changed + (ports.set_status(uow, down, "DOWN") if down else [])


def authorize_topics(session: Session, ctx: RequestContext, topics: frozenset[str]) -> None:
    """An agent lists and watches only its own host's ``host:H`` topic (the
    ports bound to it, with their servers' hostnames) and ``storage:H`` topic
    (the volumes and snapshots placed on it); network, router and
    group topics carry what every host with a port there needs."""
    hosts = [t.split(":", 1)[1] for t in topics if t.startswith(("host:", "storage:"))]
    if hosts:
        authorize_hosts(session, ctx, hosts, "internal:watch_host")
