"""Availability zones of networking: the zones of the hosts' agents.

Each agent reports its host's zone (``availability_zone`` in its
configuration, ``nova`` unless set). Every host serves the networks of its
ports (switching, DHCP and routing are distributed), so every agent's zone
is a ``network`` zone; the zones of gateway agents are ``router`` zones. A
zone is ``available`` while one of its agents is alive and up.

A network's ``availability_zones`` are the zones of the hosts with its
ports bound; a router's, the zones of the agents it is bound to. Hints
(``availability_zone_hints``) must name known zones of their resource
(404 ``AvailabilityZoneNotFound``); a router with hints is scheduled only
to gateway agents in those zones.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.config import Settings
from kumo.db.agent_models import Agent
from kumo.db.base import utcnow
from kumo.db.l3_models import RouterAgentBinding
from kumo.db.network_models import Port
from kumo.errors import InvalidInput, NotFound, shown

NETWORK, ROUTER = "network", "router"


def _is_gateway(agent: Agent) -> bool:
    return (agent.configurations or {}).get("gateway") is True


def zones(session: Session, settings: Settings) -> list[dict[str, Any]]:
    """Every zone of every resource with its state, by resource then name."""
    now = utcnow()
    up: dict[tuple[str, str], bool] = {}
    for agent in session.scalars(select(Agent)):
        alive = (
            agent.admin_state_up
            and (now - agent.heartbeat_timestamp).total_seconds() < settings.agent_down_time
        )
        resources = (NETWORK, ROUTER) if _is_gateway(agent) else (NETWORK,)
        for resource in resources:
            key = (resource, agent.availability_zone)
            up[key] = up.get(key, False) or bool(alive)
    return [
        {"name": name, "resource": resource, "state": "available" if ok else "unavailable"}
        for (resource, name), ok in sorted(up.items())
    ]


def check_hints(session: Session, settings: Settings, resource: str, raw: Any) -> list[str]:
    """``availability_zone_hints``: a list of known zones of ``resource``."""
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(h, str) for h in raw):
        raise InvalidInput(
            f"Invalid input for availability_zone_hints. Reason: '{shown(raw)}' is not a list "
            "of strings."
        )
    known = {z["name"] for z in zones(session, settings) if z["resource"] == resource}
    for hint in raw:
        if hint not in known:
            raise NotFound(
                f"AvailabilityZone {hint} could not be found.", kind="AvailabilityZoneNotFound"
            )
    return list(dict.fromkeys(raw))


def network_zones(session: Session, network_ids: Collection[str]) -> dict[str, list[str]]:
    """Network id -> the zones of the hosts with its ports bound."""
    if not network_ids:
        return {}
    q = (
        select(Port.network_id, Agent.availability_zone)
        .join(Agent, Agent.host == Port.host)
        .where(Port.host != "")
        .distinct()
    )
    if len(network_ids) < 500:
        q = q.where(Port.network_id.in_(list(network_ids)))
    wanted = set(network_ids)
    out: dict[str, set[str]] = {}
    for net_id, zone in session.execute(q):
        if net_id in wanted:
            out.setdefault(net_id, set()).add(zone)
    return {k: sorted(v) for k, v in out.items()}


def router_zones(session: Session, router_ids: Collection[str]) -> dict[str, list[str]]:
    """Router id -> the zones of the agents it is bound to."""
    if not router_ids:
        return {}
    b = RouterAgentBinding
    q = (
        select(b.router_id, Agent.availability_zone)
        .join(Agent, Agent.id == b.agent_id)
        .where(b.router_id.in_(list(router_ids)))
        .distinct()
    )
    out: dict[str, set[str]] = {}
    for router_id, zone in session.execute(q):
        out.setdefault(router_id, set()).add(zone)
    return {k: sorted(v) for k, v in out.items()}
