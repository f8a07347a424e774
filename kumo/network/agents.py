"""Host agents as API objects: registration, heartbeats, Neutron's agent view."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.agent_models import Agent
from kumo.db.base import utcnow
from kumo.db.uow import UnitOfWork
from kumo.errors import InvalidInput, not_found
from kumo.network import validate
from kumo.policy import allowed

TOPICS = ("agents",)

PEER_KEYS = ("tunnel_ip", "underlay_device", "bridge_mappings", "vlan_devices", "gateway")
"""What other hosts compile from an agent's ``configurations`` (its underlay
address, VLAN mappings, the gateway mark): the ``agents`` topic carries only
these, so a heartbeat, a readiness or a capacity report reaches no agent."""


def _ts(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S")


def view(agent: Agent, settings: Settings, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    alive = (now - agent.heartbeat_timestamp).total_seconds() < settings.agent_down_time
    return {
        "id": agent.id,
        "agent_type": agent.agent_type,
        "binary": agent.binary,
        "host": agent.host,
        "topic": agent.topic,
        "availability_zone": agent.availability_zone,
        "admin_state_up": agent.admin_state_up,
        "alive": alive,
        "description": agent.description,
        "configurations": dict(agent.configurations or {}),
        "created_at": _ts(agent.created_at),
        "started_at": _ts(agent.started_at),
        "heartbeat_timestamp": _ts(agent.heartbeat_timestamp),
        "resources_synced": None,
    }


def peer_view(agent: Any) -> dict[str, Any]:
    """An agent as the other agents see it on the ``agents`` topic
    (``agent``: an ``Agent``, or anything with its ``id``, ``host``,
    ``binary`` and decoded ``configurations``)."""
    config = agent.configurations or {}
    return {
        "id": agent.id,
        "host": agent.host,
        "binary": agent.binary,
        "configurations": {k: config[k] for k in PEER_KEYS if k in config},
    }


def _emit(uow: UnitOfWork, agent: Agent, op: str = "upsert") -> None:
    uow.emit("agent", op, agent.id, TOPICS, peer_view(agent))


def register(uow: UnitOfWork, settings: Settings, body: dict[str, Any]) -> Agent:
    """Create or refresh the agent of ``(host, binary)``; a restart counts as a start."""
    host = body.get("host")
    if not isinstance(host, str) or not host:
        raise InvalidInput("host is required")
    binary = body.get("binary") or "kumo-agent"
    config = body.get("configurations") or {}
    if not isinstance(config, dict):
        raise InvalidInput("configurations must be an object")
    s = uow.session
    agent = s.scalar(select(Agent).where(Agent.host == host, Agent.binary == binary))
    now = utcnow()
    before = None if agent is None else peer_view(agent)
    if agent is None:
        agent = Agent(host=host, binary=binary)
        s.add(agent)
    agent.agent_type = str(body.get("agent_type") or "kumo agent")
    agent.availability_zone = str(body.get("availability_zone") or "nova")
    agent.configurations = config
    agent.started_at = now
    agent.heartbeat_timestamp = now
    s.flush()
    if peer_view(agent) != before:  # a restart with the same underlay: nothing for peers
        _emit(uow, agent)
    return agent


def heartbeat(uow: UnitOfWork, settings: Settings, agent_id: str, body: dict[str, Any]) -> Agent:
    agent = uow.session.get(Agent, agent_id)
    if agent is None:
        raise not_found("agent", agent_id)
    agent.heartbeat_timestamp = utcnow()
    config = body.get("configurations")
    if isinstance(config, dict) and config != agent.configurations:
        before = peer_view(agent)
        agent.configurations = config
        if peer_view(agent) != before:
            _emit(uow, agent)
    return agent


def update(uow: UnitOfWork, settings: Settings, agent_id: str, body: dict[str, Any]) -> Agent:
    validate.known(body, {"admin_state_up", "description"})
    agent = uow.session.get(Agent, agent_id)
    if agent is None:
        raise not_found("agent", agent_id)
    if "admin_state_up" in body:
        agent.admin_state_up = validate.boolean(body, "admin_state_up")
    if "description" in body:
        agent.description = validate.string(body, "description")
    return agent


def remove(uow: UnitOfWork, settings: Settings, agent_id: str) -> None:
    agent = uow.session.get(Agent, agent_id)
    if agent is None:
        raise not_found("agent", agent_id)
    _emit(uow, agent, "delete")
    uow.session.delete(agent)


def list_views(session: Session, settings: Settings) -> list[dict[str, Any]]:
    now = utcnow()
    rows = session.scalars(select(Agent).order_by(Agent.host, Agent.binary))
    return [view(a, settings, now) for a in rows]


def visible_views(
    session: Session, settings: Settings, ctx: RequestContext
) -> list[dict[str, Any]]:
    """The agents the caller may see: as in Neutron, a list keeps the agents
    the caller may show (``network:get_agent``), so a non-admin lists none
    and is not refused."""
    if not allowed(ctx, "network:get_agent"):
        return []
    return list_views(session, settings)
