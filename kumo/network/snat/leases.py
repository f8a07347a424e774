"""Port-block leases: handed out on demand, returned when idle, reclaimed
when their host dies.

An agent asks for a block of a router's external address when its host
runs instances of the router and holds no block, or runs short
(``allocate``); it returns a block it no longer uses (``release``). A
block is ``snat_block_size`` consecutive ports (the same numbers serve as
TCP and UDP ports and ICMP echo identifiers), aligned within
``snat_port_range``; the lowest free block is handed out. Fairness: a
host holds at most ``snat_blocks_per_instance`` blocks of a router per
instance it runs on the router's networks. When a host's agent has been
dead for ``snat_reclaim_after`` seconds, its blocks go back to the pool
(``reclaim``, run by the API server's rescheduling loop).

Each change emits the lease (kind ``snat_lease``) and the router (whose
watch body lists its leases) in the same transaction. An agent acts only
for its own host (``internal:snat_lease``, the host its credential was
enrolled for).
"""

from __future__ import annotations

import datetime as dt
import ipaddress

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.agent_models import Agent
from kumo.db.base import utcnow
from kumo.db.engine import Database
from kumo.db.l3_models import Router, RouterPort
from kumo.db.network_models import IPAllocation, Port
from kumo.db.snat_models import SnatLease
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.errors import BadRequest, Conflict, not_found
from kumo.identity.agent_credentials import authorize_hosts
from kumo.network import events
from kumo.network.l3.views import INTERFACE_TYPES
from kumo.network.snat.views import lease_view, topics

RULE = "internal:snat_lease"


def blocks(settings: Settings) -> list[int]:
    """First ports of every block an external address has."""
    low, high = settings.snat_port_range
    size = settings.snat_block_size
    return list(range(low, high - size + 2, size))


def external_ipv4(session: Session, router: Router) -> str | None:
    """The router's external IPv4 address (its gateway port's first)."""
    if not router.gw_port_id:
        return None
    rows = session.scalars(
        select(IPAllocation.ip_address)
        .where(IPAllocation.port_id == router.gw_port_id)
        .order_by(IPAllocation.ip_address)
    )
    return next((ip for ip in rows if ipaddress.ip_address(ip).version == 4), None)


def instances_on(session: Session, router_id: str, host: str) -> int:
    """Instance ports bound to ``host`` on the networks of the router's interfaces."""
    networks = (
        select(Port.network_id)
        .join(RouterPort, RouterPort.port_id == Port.id)
        .where(RouterPort.router_id == router_id, RouterPort.port_type.in_(INTERFACE_TYPES))
    )
    q = select(func.count(Port.id)).where(
        Port.host == host, Port.network_id.in_(networks), Port.device_owner.like("compute:%")
    )
    return int(session.scalar(q) or 0)


def held(session: Session, router_id: str, host: str | None = None) -> list[SnatLease]:
    q = select(SnatLease).where(SnatLease.router_id == router_id)
    if host is not None:
        q = q.where(SnatLease.host == host)
    return list(session.scalars(q.order_by(SnatLease.external_ip, SnatLease.port_min)))


def allocate(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, router_id: str, host: str
) -> SnatLease:
    """A new block of the router's external address for ``host``."""
    s = uow.session
    authorize_hosts(s, ctx, [host], RULE)
    router = s.scalar(select(Router).where(Router.id == router_id).with_for_update())
    if router is None:
        raise not_found("router", router_id)
    if not router.distributed_snat or not router.enable_snat:
        raise BadRequest(f"Router {router_id} does not translate on its hosts.")
    address = external_ipv4(s, router)
    if address is None:
        raise BadRequest(f"Router {router_id} has no external IPv4 address.")
    instances = instances_on(s, router_id, host)
    mine = held(s, router_id, host)
    if len(mine) >= settings.snat_blocks_per_instance * instances:
        raise Conflict(
            f"Host {host} holds {len(mine)} port blocks of router {router_id} for "
            f"{instances} instances: no more.",
            kind="SnatPortBlocksExhausted",
        )
    taken = set(s.scalars(select(SnatLease.port_min).where(SnatLease.external_ip == address)))
    free = next((b for b in blocks(settings) if b not in taken), None)
    if free is None:
        raise Conflict(f"Every port block of {address} is leased.", kind="SnatPortBlocksExhausted")
    lease = SnatLease(
        router_id=router_id,
        host=host,
        external_ip=address,
        port_min=free,
        port_max=free + settings.snat_block_size - 1,
    )
    s.add(lease)
    s.flush()
    _changed(uow, router, lease, "upsert")
    return lease


def release(uow: UnitOfWork, ctx: RequestContext, lease_id: str) -> None:
    """Return a block (only the host holding it, or an admin)."""
    s = uow.session
    lease = s.get(SnatLease, lease_id)
    if lease is None:
        raise not_found("snat_lease", lease_id)
    authorize_hosts(s, ctx, [lease.host], RULE)
    router = s.scalar(select(Router).where(Router.id == lease.router_id).with_for_update())
    s.delete(lease)
    s.flush()
    if router is not None:
        _changed(uow, router, lease, "delete")


def drop_all(uow: UnitOfWork, router: Router) -> None:
    """Take back every block of a router (its gateway or mode changed); the
    caller emits the router."""
    for lease in held(uow.session, router.id):
        uow.session.delete(lease)
        uow.emit("snat_lease", "delete", lease.id, topics(lease), lease_view(lease))
    uow.session.flush()


def reclaim(db: Database, settings: Settings, now: dt.datetime | None = None) -> list[str]:
    """Take back the blocks of hosts whose agent has been dead for
    ``agent_down_time + snat_reclaim_after`` seconds (or that have no agent
    at all). Returns the ids of the leases taken back."""
    now = now or utcnow()
    limit = now - dt.timedelta(seconds=settings.agent_down_time + settings.snat_reclaim_after)

    def work(uow: UnitOfWork) -> list[str]:
        s = uow.session
        alive = select(Agent.host).where(Agent.heartbeat_timestamp >= limit)
        stale = list(s.scalars(select(SnatLease).where(SnatLease.host.not_in(alive))))
        for router_id in sorted({lease.router_id for lease in stale}):
            router = s.scalar(select(Router).where(Router.id == router_id).with_for_update())
            gone = [lease for lease in stale if lease.router_id == router_id]
            for lease in gone:
                s.delete(lease)
            s.flush()
            for lease in gone:
                uow.emit("snat_lease", "delete", lease.id, topics(lease), lease_view(lease))
            if router is not None:
                events.router(uow, router)
        return sorted(lease.id for lease in stale)

    return run_in_transaction(db, work)


def _changed(uow: UnitOfWork, router: Router, lease: SnatLease, op: str) -> None:
    uow.emit("snat_lease", op, lease.id, topics(lease), lease_view(lease))
    events.router(uow, router)
