"""Ending open watch streams when the server is told to stop.

uvicorn's graceful shutdown (SIGTERM, SIGINT) stops accepting connections,
then waits for every open response to finish before it exits, and a watch
stream never finishes on its own. At startup, while uvicorn's own signal
handlers are installed, ``install`` puts a handler in front of them that
marks the app as draining and wakes every watch stream, which then ends
(the agents reconnect to another server, or to this one when it is back);
then uvicorn's handler runs as before. Outside the main thread (a test
client) nothing is installed.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Draining:
    """Set once the server is stopping; ``wakers`` are called (in the event
    loop) when it is."""

    def __init__(self) -> None:
        self.is_set = False
        self.wakers: list[Callable[[], None]] = []

    def set(self) -> None:
        if self.is_set:
            return
        self.is_set = True
        log.info("stopping: ending open watch streams")
        for wake in self.wakers:
            wake()


def install(draining: Draining, loop: asyncio.AbstractEventLoop) -> None:
    for sig in SIGNALS:
        try:
            previous = signal.getsignal(sig)
        except ValueError:
            return
        if not callable(previous):
            continue

        def handler(
            signum: int, frame: FrameType | None, previous: Callable[..., Any] = previous
        ) -> None:
            loop.call_soon_threadsafe(draining.set)
            previous(signum, frame)

        try:
            signal.signal(sig, handler)
        except ValueError:  # not the main thread
            return


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    install(app.state.draining, asyncio.get_running_loop())
    try:
        yield
    finally:
        app.state.draining.set()
        from kumo.telemetry.exposition import process_exited

        process_exited()
