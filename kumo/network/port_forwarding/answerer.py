"""The host answering ARP for a floating IP with port forwardings.

One host's router namespace holds the floating IP's address and relays the
frames of forwardings served elsewhere (``kumo.compiler.forwarding``). It
is one of the hosts of the forwardings' internal ports, kept in the
floating IP's ``forwarding_host`` and sent to the hosts with it: it stays
while its agent lives and still serves a forwarding; when its agent's
reports go stale (``agent_down_time``), the first host by name with a live
agent takes over. The API servers' rescheduling loop runs ``reassign``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.config import Settings
from kumo.db.agent_models import Agent
from kumo.db.base import utcnow
from kumo.db.engine import Database
from kumo.db.l3_models import FloatingIP
from kumo.db.network_models import Port
from kumo.db.port_forwarding_models import PortForwarding
from kumo.db.uow import UnitOfWork, run_in_transaction


def choose(hosts: Iterable[str], live: set[str], current: str = "") -> str:
    """The answering host among ``hosts`` (those serving a forwarding):
    ``current`` while it serves one and lives, else the first live one by
    name, else (none lives) ``current`` or the first by name."""
    serving = sorted(set(hosts))
    if not serving:
        return ""
    if current in serving and current in live:
        return current
    alive = [h for h in serving if h in live]
    if alive:
        return alive[0]
    return current if current in serving else serving[0]


def live_hosts(session: Session, settings: Settings, now: dt.datetime | None = None) -> set[str]:
    """Hosts with an agent whose last report is younger than ``agent_down_time``."""
    now = now or utcnow()
    limit = now - dt.timedelta(seconds=settings.agent_down_time)
    q = select(Agent.host).where(Agent.heartbeat_timestamp > limit)
    return {h for h in session.scalars(q) if h}


def serving_hosts(session: Session) -> dict[str, set[str]]:
    """Each floating IP with forwardings: the hosts of their internal ports."""
    q = select(PortForwarding.floatingip_id, Port.host).join(
        Port, Port.id == PortForwarding.internal_port_id
    )
    out: dict[str, set[str]] = {}
    for fip_id, host in session.execute(q):
        out.setdefault(fip_id, set())
        if host:
            out[fip_id].add(host)
    return out


def reassign(db: Database, settings: Settings, now: dt.datetime | None = None) -> list[str]:
    """Give each floating IP with forwardings its answering host; the ids
    of those whose host changed (emitted to their router's hosts)."""

    def work(uow: UnitOfWork) -> list[str]:
        from kumo.network import events
        from kumo.network.core.networks import touch

        s = uow.session
        live = live_hosts(s, settings, now)
        changed = []
        for fip_id, hosts in sorted(serving_hosts(s).items()):
            fip = s.get(FloatingIP, fip_id, with_for_update=True)
            if fip is None:
                continue
            want = choose(hosts, live, fip.forwarding_host)
            if want and want != fip.forwarding_host:
                fip.forwarding_host = want
                touch(fip)
                s.flush()
                events.floatingip(uow, fip)
                changed.append(fip_id)
        return changed

    return run_in_transaction(db, work)
