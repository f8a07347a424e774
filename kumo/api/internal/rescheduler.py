"""The API server's rescheduling loop: routers move off dead gateway agents
(dead hosts' SNAT port blocks go back to the pool, and floating IPs with
port forwardings get a live answering host).

Every server process runs one loop, started and stopped with the app (the
internal router's lifespan). Every ``agent_down_time / 3`` seconds it runs
``l3_scheduler.reschedule`` in a thread. Several servers may share one
database: each router is rescheduled in its own transaction under its row
lock and only while it is still stranded, so concurrent passes move it once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from kumo.config import Settings
from kumo.db.engine import Database
from kumo.network.l3 import scheduler as l3_scheduler
from kumo.network.port_forwarding import answerer
from kumo.network.snat import leases

log = logging.getLogger(__name__)


def interval(settings: Settings) -> float:
    return max(1.0, settings.agent_down_time / 3)


async def run(db: Database, settings: Settings, stop: asyncio.Event) -> None:
    """Until ``stop`` is set; a pass under way finishes first."""
    while True:
        try:
            await asyncio.wait_for(stop.wait(), interval(settings))
            return
        except TimeoutError:
            pass
        try:
            moved = await asyncio.to_thread(l3_scheduler.reschedule, db, settings)
        except Exception:  # noqa: BLE001 - a database hiccup must not end the loop
            log.exception("rescheduling routers failed; retrying")
            continue
        if moved:
            log.info("rescheduled routers off ineligible agents: %s", ", ".join(moved))
        try:
            taken = await asyncio.to_thread(leases.reclaim, db, settings)
        except Exception:  # noqa: BLE001 - as above
            log.exception("reclaiming SNAT port blocks failed; retrying")
            continue
        if taken:
            log.info("reclaimed SNAT port blocks of dead hosts: %s", ", ".join(taken))
        try:
            answered = await asyncio.to_thread(answerer.reassign, db, settings)
        except Exception:  # noqa: BLE001 - as above
            log.exception("choosing port forwarding hosts failed; retrying")
            continue
        if answered:
            log.info("floating IPs answered by another host: %s", ", ".join(answered))


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    rt = app.state.runtime
    stop = asyncio.Event()
    task = asyncio.create_task(run(rt.db, rt.settings, stop))
    try:
        yield
    finally:
        stop.set()
        await task
