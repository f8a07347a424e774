"""Gateway hosts: which agents host a router, and what follows from it.

An agent is a gateway candidate when its ``configurations`` say
``"gateway": true``; it is eligible while alive and ``admin_state_up``.
A router needs a host when it has a gateway or is centralized
(``distributed`` false). A router that is not HA is bound to one agent;
an HA router to ``max_l3_agents_per_router`` of them (0: every eligible
one), in ``priority`` order. ``sync`` is level-triggered. Scheduling
(``plan``) keeps the eligible bindings in their order, fills the free
places with the eligible agents hosting the fewest routers (ties by host
name; with ``availability_zone_hints`` only agents of those zones, the
zones in turn), appended last, and keeps an ineligible binding only while no such
agent is left to take its place (its host may come back). Then the
router's ports follow its active host:

- the active host is the first bound agent that is alive and reported
  ``active`` (HA routers only), else the first eligible one, else the first;
- the gateway port and the centralized SNAT ports are bound to it;
- a centralized router's interfaces are bound to it, a distributed
  router's interfaces are not (they exist on every host);
- a distributed router with a gateway and SNAT has one SNAT port
  (``network:router_centralized_snat``) per interface subnet.

When its bindings change, the router is emitted (``events.router``) to
its hosts before and after. ``reschedule`` is the API server's periodic
pass that moves routers off dead agents between writes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kumo.config import Settings
from kumo.db.agent_models import Agent
from kumo.db.base import utcnow
from kumo.db.engine import Database
from kumo.db.l3_models import Router, RouterAgentBinding
from kumo.db.network_models import Network, Port, Subnet
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.errors import Conflict, NotFound, not_found
from kumo.network import events
from kumo.network.l3 import ports as l3_ports
from kumo.network.l3 import router_ports
from kumo.network.ports import ports

HA_STATES = ("active", "standby")
UNKNOWN = "unknown"
Bound = tuple[RouterAgentBinding, Agent]


def is_gateway(agent: Agent) -> bool:
    return (agent.configurations or {}).get("gateway") is True


def alive(agent: Agent, settings: Settings, now: dt.datetime | None = None) -> bool:
    now = now or utcnow()
    return (now - agent.heartbeat_timestamp).total_seconds() < settings.agent_down_time


def eligible(agent: Agent, settings: Settings, now: dt.datetime | None = None) -> bool:
    return is_gateway(agent) and agent.admin_state_up and alive(agent, settings, now)


def needs_host(router: Router) -> bool:
    return router.gw_port_id is not None or not router.distributed


def on_every_gateway(router: Router) -> bool:
    """A distributed-SNAT router with a gateway: hosted by every eligible
    gateway agent (any of them carries its return traffic)."""
    return bool(router.distributed_snat and router.enable_snat and router.gw_port_id)


def loads(session: Session) -> dict[str, int]:
    b = RouterAgentBinding
    q = select(b.agent_id, func.count()).group_by(b.agent_id)
    return {agent_id: int(n) for agent_id, n in session.execute(q)}


def candidates(session: Session, settings: Settings, now: dt.datetime) -> list[Agent]:
    """Eligible gateway agents, hosting the fewest routers first (ties: host name)."""
    found = [a for a in session.scalars(select(Agent)) if eligible(a, settings, now)]
    load = loads(session)
    return sorted(found, key=lambda a: (load.get(a.id, 0), a.host, a.id))


def zoned(agents: list[Agent], hints: list[str]) -> list[str]:
    """With hints, only the agents in the hinted zones, taken from each zone
    in turn (an HA router's agents spread over its zones); without, all."""
    if not hints:
        return [a.id for a in agents]
    by_zone = {z: [a.id for a in agents if a.availability_zone == z] for z in hints}
    out: list[str] = []
    while any(by_zone.values()):
        for zone in hints:
            if by_zone[zone]:
                out.append(by_zone[zone].pop(0))
    return out


def bindings(session: Session, router_id: str) -> list[Bound]:
    """The router's bindings with their agents, in priority order."""
    b = RouterAgentBinding
    q = (
        select(b, Agent)
        .join(Agent, Agent.id == b.agent_id)
        .where(b.router_id == router_id)
        .order_by(b.priority, b.agent_id)
    )
    return [(row, agent) for row, agent in session.execute(q)]


def plan(
    router: Router, settings: Settings, bound: Sequence[tuple[str, bool]], spares: Sequence[str]
) -> list[str]:
    """The agent ids a router should be bound to, in priority order.

    ``bound``: (agent id, eligible) of its bindings in priority order;
    ``spares``: the eligible agents not bound to it, best first.
    """
    if not needs_host(router):
        return []
    live = [a for a, ok in bound if ok]
    dead = [a for a, ok in bound if not ok]
    if not router.ha:
        first = (live or list(spares[:1]) or dead)[:1]
        if on_every_gateway(router):
            return first + [a for a in (*live, *spares) if a not in first]
        return first
    wanted = settings.max_l3_agents_per_router or len(live) + len(dead) + len(spares)
    free = max(0, wanted - len(live))
    added = list(spares[:free])
    return live + added + dead[: free - len(added)]


def _apply(
    session: Session, router_id: str, rows: list[Bound], agent_ids: list[str]
) -> list[Bound]:
    have = {row.agent_id: (row, agent) for row, agent in rows}
    for agent_id, (row, _) in have.items():
        if agent_id not in agent_ids:
            session.delete(row)
    out: list[Bound] = []
    for priority, agent_id in enumerate(agent_ids):
        if agent_id in have:
            row, agent = have[agent_id]
            if row.priority != priority:
                row.priority = priority
        else:
            row = RouterAgentBinding(router_id=router_id, agent_id=agent_id, priority=priority)
            session.add(row)
            found = session.get(Agent, agent_id)
            assert found is not None
            agent = found
        out.append((row, agent))
    session.flush()
    return out


def _schedule(
    session: Session, settings: Settings, router: Router, rows: list[Bound], now: dt.datetime
) -> list[Bound]:
    """Bind the router as ``plan`` says; returns the new bindings."""
    bound_ids = {row.agent_id for row, _ in rows}
    spares = zoned(
        [a for a in candidates(session, settings, now) if a.id not in bound_ids],
        list(router.availability_zone_hints or []),
    )
    wanted = plan(
        router, settings, [(row.agent_id, eligible(a, settings, now)) for row, a in rows], spares
    )
    if wanted == [row.agent_id for row, _ in rows]:
        return rows
    return _apply(session, router.id, rows, wanted)


def active_host(router: Router, rows: list[Bound], settings: Settings, now: dt.datetime) -> str:
    """The host the router's gateway and SNAT ports belong on ("" when unbound)."""
    if router.ha:
        for row, agent in rows:
            if row.ha_state == "active" and alive(agent, settings, now):
                return agent.host
    for _, agent in rows:
        if eligible(agent, settings, now):
            return agent.host
    return rows[0][1].host if rows else ""


def ha_state(
    router: Router, row: RouterAgentBinding, agent: Agent, settings: Settings, now: dt.datetime
) -> str | None:
    """What ``l3-agents`` shows: null for a router that is not HA, else the
    reported state, or ``unknown`` before a report or while the agent is dead."""
    if not router.ha:
        return None
    if row.ha_state in HA_STATES and alive(agent, settings, now):
        return row.ha_state
    return UNKNOWN


def sync(uow: UnitOfWork, settings: Settings, router: Router, *, schedule: bool = True) -> None:
    """Make the router's bindings, port hosts and SNAT ports what its state asks for.

    ``schedule=False`` keeps the bindings as they are (an admin just changed
    them, or an agent reported a state) and only makes the ports follow.
    """
    s = uow.session
    now = utcnow()
    rows = bindings(s, router.id)
    before = [agent.host for _, agent in rows]
    if schedule:
        rows = _schedule(s, settings, router, rows, now)
    if not router.ha:
        for row, _ in rows:
            if row.ha_state is not None:
                row.ha_state = None
    host = active_host(router, rows, settings, now)
    _sync_snat(uow, settings, router)
    central = (l3_ports.GATEWAY, l3_ports.SNAT, l3_ports.INTERFACE)
    for port in router_ports.ports_of(s, router.id, central):
        ports.bind_host(uow, port, host)
    for port in router_ports.ports_of(s, router.id, (l3_ports.INTERFACE_DISTRIBUTED,)):
        ports.bind_host(uow, port, "")
    if [agent.host for _, agent in rows] != before:
        events.router(uow, router, old_hosts=before)


def _sync_snat(uow: UnitOfWork, settings: Settings, router: Router) -> None:
    s = uow.session
    wanted: list[str] = []
    if router.distributed and router.gw_port_id and router.enable_snat:
        for port in router_ports.ports_of(s, router.id, l3_ports.INTERFACE_OWNERS):
            wanted.extend(a.subnet_id for a in port.fixed_ips if a.subnet_id not in wanted)
    have: dict[str, Port] = {}
    for port in router_ports.ports_of(s, router.id, (l3_ports.SNAT,)):
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
        fixed = [{"subnet_id": subnet_id}]
        router_ports.create(
            uow, settings, net, router.id, l3_ports.SNAT, project_id="", fixed_ips=fixed
        )


# -- the l3_agent_scheduler extension (admin) ----------------------------------------


def _locked_router(session: Session, router_id: str) -> Router:
    router = session.scalar(select(Router).where(Router.id == router_id).with_for_update())
    if router is None:
        raise not_found("router", router_id)
    return router


def add_router(uow: UnitOfWork, settings: Settings, agent_id: str, router_id: str) -> None:
    """Host ``router_id`` on the agent: an HA router gains a binding (last in
    priority); a distributed-SNAT router, bound to every gateway agent,
    takes this one first (its gateway port, which answers ARP for the
    external address, moves there; the others keep carrying what reaches
    them); any other router moves there from its agent."""
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
    rows = bindings(s, router.id)
    current = [row.agent_id for row, _ in rows]
    if router.ha:
        wanted = current if agent.id in current else [*current, agent.id]
    elif on_every_gateway(router):
        wanted = [agent.id, *(a for a in current if a != agent.id)]
    else:
        wanted = [agent.id]
    if wanted != current:
        _apply(s, router.id, rows, wanted)
    sync(uow, settings, router, schedule=False)
    _emit_if_moved(uow, router, rows)


def remove_router(uow: UnitOfWork, settings: Settings, agent_id: str, router_id: str) -> None:
    """Remove the agent's binding; the next router update schedules it again."""
    s = uow.session
    router = _locked_router(s, router_id)
    rows = bindings(s, router.id)
    current = [row.agent_id for row, _ in rows]
    if agent_id not in current:
        raise Conflict(
            f"The router {router_id} is not hosted by L3 agent {agent_id}.",
            kind="RouterNotHostedByL3Agent",
        )
    _apply(s, router.id, rows, [a for a in current if a != agent_id])
    sync(uow, settings, router, schedule=False)
    _emit_if_moved(uow, router, rows)


def _emit_if_moved(uow: UnitOfWork, router: Router, before: list[Bound]) -> None:
    old = [agent.host for _, agent in before]
    if [agent.host for _, agent in bindings(uow.session, router.id)] != old:
        events.router(uow, router, old_hosts=old)


def routers_on(session: Session, agent_id: str) -> list[Router]:
    hosted = select(RouterAgentBinding.router_id).where(RouterAgentBinding.agent_id == agent_id)
    q = select(Router).where(Router.id.in_(hosted)).order_by(Router.created_at, Router.id)
    return list(session.scalars(q))


# -- HA state reports ----------------------------------------------------------------


def report_states(
    uow: UnitOfWork, settings: Settings, agent_id: str, states: dict[str, str]
) -> list[str]:
    """Record the states an agent reports for its HA routers (routers it is
    not bound to, or that are not HA, are ignored; an ``active`` report
    makes the router's other active bindings ``standby``) and move each
    router's ports to its active host. Returns the routers whose state changed."""
    s = uow.session
    if s.get(Agent, agent_id) is None:
        raise not_found("agent", agent_id)
    changed: list[str] = []
    for router_id in sorted(states):  # router rows are locked in id order
        key = (router_id, agent_id)
        row = s.get(RouterAgentBinding, key)
        if row is None or row.ha_state == states[router_id]:
            continue
        router = s.scalar(select(Router).where(Router.id == router_id).with_for_update())
        row = s.get(RouterAgentBinding, key, populate_existing=True)  # again, under the lock
        if router is None or not router.ha or row is None or row.ha_state == states[router_id]:
            continue
        row.ha_state = states[router_id]
        if row.ha_state == "active":
            _demote_others(s, router_id, agent_id)
        s.flush()
        sync(uow, settings, router, schedule=False)
        changed.append(router_id)
    return changed


def _demote_others(session: Session, router_id: str, agent_id: str) -> None:
    """Another gateway of the router took over: the bindings still marked
    ``active`` (an agent killed before it could say otherwise, seen dead
    only once its heartbeats are overdue) become ``standby``, so the router
    never lists two active gateways and its ports follow the new one at
    once. A demoted agent that is alive reports its own state again when
    it changes."""
    for other, _ in bindings(session, router_id):
        if other.agent_id != agent_id and other.ha_state == "active":
            other.ha_state = "standby"


# -- rescheduling off dead agents ----------------------------------------------------


def _stranded(router: Router, bound: set[str], ok: set[str]) -> bool:
    if on_every_gateway(router):
        return bound != ok and bool(ok)
    return needs_host(router) and bool(bound - ok) and bool(ok - bound)


def stranded(session: Session, settings: Settings) -> list[str]:
    """Routers that need a host and are bound to an ineligible agent while
    an eligible gateway agent is not bound to them, and distributed-SNAT
    routers not bound to exactly the eligible gateway agents (sorted ids)."""
    ok = {a.id for a in candidates(session, settings, utcnow())}
    if not ok:
        return []
    bound: dict[str, set[str]] = {}
    for router_id, agent_id in session.execute(
        select(RouterAgentBinding.router_id, RouterAgentBinding.agent_id)
    ):
        bound.setdefault(router_id, set()).add(agent_id)
    found = [r for r, ids in bound.items() if ids - ok]
    spread = select(Router.id).where(Router.distributed_snat.is_(True), Router.enable_snat.is_(True),
                                     Router.gw_port_id.is_not(None))  # fmt: skip
    found += [r for r in session.scalars(spread) if bound.get(r, set()) != ok]
    if not found:
        return []
    rows = session.scalars(select(Router).where(Router.id.in_(found)))
    return sorted({r.id for r in rows if _stranded(r, bound.get(r.id, set()), ok)})


def reschedule(db: Database, settings: Settings) -> list[str]:
    """One pass: schedule every stranded router again, each in its own
    transaction under its row lock (several servers may run this at once:
    the later one finds nothing left to do). Returns the routers moved."""
    with db.read_session() as s:
        found = stranded(s, settings)
    moved: list[str] = []
    for router_id in found:

        def work(uow: UnitOfWork, router_id: str = router_id) -> bool:
            return _reschedule(uow, settings, router_id)

        if run_in_transaction(db, work):
            moved.append(router_id)
    return moved


def _reschedule(uow: UnitOfWork, settings: Settings, router_id: str) -> bool:
    s = uow.session
    router = s.scalar(select(Router).where(Router.id == router_id).with_for_update())
    if router is None:
        return False
    rows = bindings(s, router_id)
    before = [row.agent_id for row, _ in rows]
    ok = {a.id for a in candidates(s, settings, utcnow())}
    if not _stranded(router, set(before), ok):
        return False
    sync(uow, settings, router)
    return [row.agent_id for row, _ in bindings(s, router_id)] != before
