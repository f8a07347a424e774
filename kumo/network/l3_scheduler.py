"""Gateway hosts: which agent hosts a router, and what follows from it.

An agent is a gateway candidate when its ``configurations`` say
``"gateway": true``; it is eligible while alive and ``admin_state_up``.
A router needs a host when it has a gateway or is centralized
(``distributed`` false). ``sync`` is level-triggered: it keeps an eligible
binding, otherwise binds the eligible agent hosting the fewest routers
(ties by host name), keeps a stale binding when no agent is eligible, and
then makes the router's ports match:

- the gateway port and the centralized SNAT ports are bound to the host;
- a centralized router's interfaces are bound to the host, a distributed
  router's interfaces are not (they exist on every host);
- a distributed router with a gateway and SNAT has one SNAT port
  (``network:router_centralized_snat``) per interface subnet.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kumo.config import Settings
from kumo.db.agent_models import Agent
from kumo.db.base import utcnow
from kumo.db.l3_models import Router, RouterAgentBinding
from kumo.db.network_models import Network, Port, Subnet
from kumo.db.uow import UnitOfWork
from kumo.errors import Conflict, NotFound, not_found
from kumo.network import l3_ports, ports


def is_gateway(agent: Agent) -> bool:
    return (agent.configurations or {}).get("gateway") is True


def alive(agent: Agent, settings: Settings, now: dt.datetime | None = None) -> bool:
    now = now or utcnow()
    return (now - agent.heartbeat_timestamp).total_seconds() < settings.agent_down_time


def eligible(agent: Agent, settings: Settings, now: dt.datetime | None = None) -> bool:
    return is_gateway(agent) and agent.admin_state_up and alive(agent, settings, now)


def needs_host(router: Router) -> bool:
    return router.gw_port_id is not None or not router.distributed


def loads(session: Session) -> dict[str, int]:
    b = RouterAgentBinding
    q = select(b.agent_id, func.count()).group_by(b.agent_id)
    return {agent_id: int(n) for agent_id, n in session.execute(q)}


def choose(session: Session, settings: Settings) -> Agent | None:
    """The eligible gateway agent hosting the fewest routers (ties: host name)."""
    now = utcnow()
    candidates = [a for a in session.scalars(select(Agent)) if eligible(a, settings, now)]
    load = loads(session)
    return min(candidates, key=lambda a: (load.get(a.id, 0), a.host, a.id), default=None)


def hosting(session: Session, router_id: str) -> Agent | None:
    agent_id = session.scalar(
        select(RouterAgentBinding.agent_id).where(RouterAgentBinding.router_id == router_id)
    )
    return session.get(Agent, agent_id) if agent_id else None


def bind(session: Session, router_id: str, agent: Agent | None) -> None:
    row = session.get(RouterAgentBinding, router_id)
    if agent is None:
        if row is not None:
            session.delete(row)
    elif row is None:
        session.add(RouterAgentBinding(router_id=router_id, agent_id=agent.id))
    else:
        row.agent_id = agent.id
    session.flush()


def sync(uow: UnitOfWork, settings: Settings, router: Router, *, schedule: bool = True) -> None:
    """Make the router's binding, port hosts and SNAT ports what its state asks for.

    ``schedule=False`` keeps the binding as it is (an admin just removed it).
    """
    s = uow.session
    agent = hosting(s, router.id)
    if schedule:
        if not needs_host(router):
            agent = None
        elif agent is None or not eligible(agent, settings):
            agent = choose(s, settings) or agent
        bind(s, router.id, agent)
    host = agent.host if agent is not None else ""
    _sync_snat(uow, settings, router)
    for port in list(s.scalars(select(Port).where(Port.device_id == router.id))):
        if port.device_owner in (l3_ports.GATEWAY, l3_ports.SNAT, l3_ports.INTERFACE):
            ports.bind_host(uow, port, host)
        elif port.device_owner == l3_ports.INTERFACE_DISTRIBUTED:
            ports.bind_host(uow, port, "")


def _sync_snat(uow: UnitOfWork, settings: Settings, router: Router) -> None:
    s = uow.session
    wanted: list[str] = []
    if router.distributed and router.gw_port_id and router.enable_snat:
        for port in s.scalars(
            select(Port)
            .where(Port.device_id == router.id, Port.device_owner.in_(l3_ports.INTERFACE_OWNERS))
            .order_by(Port.created_at, Port.id)
        ):
            wanted.extend(a.subnet_id for a in port.fixed_ips if a.subnet_id not in wanted)
    have: dict[str, Port] = {}
    q = select(Port).where(Port.device_id == router.id, Port.device_owner == l3_ports.SNAT)
    for port in list(s.scalars(q)):
        subnet_id = port.fixed_ips[0].subnet_id if port.fixed_ips else ""
        if subnet_id in wanted and subnet_id not in have:
            have[subnet_id] = port
        else:
            ports.delete_owned(uow, port)
    s.flush()
    for subnet_id in wanted:
        if subnet_id in have:
            continue
        sub = s.get(Subnet, subnet_id)
        net = s.get(Network, sub.network_id) if sub is not None else None
        if net is None:
            continue
        ports.create_owned(
            uow,
            settings,
            net,
            project_id="",
            device_owner=l3_ports.SNAT,
            device_id=router.id,
            fixed_ips=[{"subnet_id": subnet_id}],
        )


# -- the l3_agent_scheduler extension (admin) ----------------------------------------


def _locked_router(session: Session, router_id: str) -> Router:
    router = session.scalar(select(Router).where(Router.id == router_id).with_for_update())
    if router is None:
        raise not_found("router", router_id)
    return router


def add_router(uow: UnitOfWork, settings: Settings, agent_id: str, router_id: str) -> None:
    """Host ``router_id`` on the agent (moving it from any other)."""
    s = uow.session
    agent = s.get(Agent, agent_id)
    if agent is None:
        raise not_found("agent", agent_id)
    if not is_gateway(agent) or not agent.admin_state_up:
        raise NotFound(
            f"Agent {agent_id} is not a L3 Agent or has been disabled", kind="InvalidL3Agent"
        )
    router = _locked_router(s, router_id)
    if not alive(agent, settings):
        raise Conflict(
            f"Failed scheduling router {router_id} to the L3 Agent {agent_id}.",
            kind="RouterSchedulingFailed",
        )
    bind(s, router.id, agent)
    sync(uow, settings, router, schedule=False)


def remove_router(uow: UnitOfWork, settings: Settings, agent_id: str, router_id: str) -> None:
    """Unschedule; the next router update schedules it again."""
    s = uow.session
    router = _locked_router(s, router_id)
    current = hosting(s, router.id)
    if current is None or current.id != agent_id:
        raise Conflict(
            f"The router {router_id} is not hosted by L3 agent {agent_id}.",
            kind="RouterNotHostedByL3Agent",
        )
    bind(s, router.id, None)
    sync(uow, settings, router, schedule=False)


def routers_on(session: Session, agent_id: str) -> list[Router]:
    hosted = select(RouterAgentBinding.router_id).where(RouterAgentBinding.agent_id == agent_id)
    q = select(Router).where(Router.id.in_(hosted)).order_by(Router.created_at, Router.id)
    return list(session.scalars(q))
