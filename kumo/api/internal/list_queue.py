"""Whole-interest lists in turn: first come, first served, a few at once,
on threads of their own, and a quick ``503`` when the wait would be long.

In a start or restart storm every agent lists at once. A list is CPU
(rendering what the server does not hold, joining the answer) and a few
dozen statements; the server has about one core. Lists run at once only
share that core: with 32 in progress each took 32 lists' time (p50 50 s at
1,000 hosts), every one holding a request thread and a database connection
all the while, so heartbeats and status reports waited for both (p50 58 s).
Here a list waits, holding nothing but its connection's socket, for one of
``places`` turns (8); it runs on threads of its own (``limiter``), never the
request threads, and holds one database connection; the turns go in the
order the lists came.

A list that would wait longer than ``max_wait`` is refused at once
(``Saturated``), with the seconds after which asking again is worth it:
when the wait will be down to half ``max_wait``. The agent asks the other
server at once, and after a second refusal comes back then, spread over
up to 10 s (``kumo.agent.client.busy_delay``: less than the 30 s of work
still queued, so the server does not sit idle meanwhile), rather than
waiting past its own timeout for a list the server would render for no
one. The wait is estimated from the lists ahead and the mean time a list
held its turn lately (``turn_seconds``).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import anyio
import anyio.to_thread

T = TypeVar("T")

PLACES = 8
"""Lists in progress at once per API process (``Settings.list_places``,
``KUMO_LIST_PLACES``). More at once only share the core (and hold more
database connections); fewer leave it idle while a list waits for the
database, and refuse more lists: 1,000 lists over two servers were all
answered after 73-78 s with 8, 103-155 s with 4, 110-179 s with 2, and
82-118 s with 32 on the request threads as before (``bench/list_storm.py``,
docs/PERFORMANCE.md, "The servers under a start storm")."""

MAX_WAIT = 60.0
"""Seconds a list may be expected to wait for its turn before it is refused
(the agent waits 120 s for an answer)."""

FIRST_TURN = 1.0
"""Seconds a turn is taken to last before any list has ended (a fresh
server's first lists render every port they hold)."""


class Saturated(Exception):
    """The list would wait too long; ask again after ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"the server is saturated with lists; retry after {retry_after:.0f} s")
        self.retry_after = retry_after


class ListQueue:
    def __init__(
        self,
        places: int = PLACES,
        max_wait: float = MAX_WAIT,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.places = places
        self.max_wait = max_wait
        self.limiter = anyio.CapacityLimiter(places)
        """The threads lists run in: as many as turns, apart from the request threads."""
        self.turn_seconds = FIRST_TURN
        """Mean seconds a list held its turn lately (moving average)."""
        self.waiting = 0
        self.running = 0
        self._turns = asyncio.Semaphore(places)
        self._clock = clock

    def expected_wait(self) -> float:
        """Seconds a list asking now would wait for its turn."""
        ahead = self.waiting + self.running - self.places + 1
        return max(0, ahead) * self.turn_seconds / self.places

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Wait for a turn (``Saturated`` at once when that would take longer
        than ``max_wait``) and hold it for the body."""
        wait = self.expected_wait()
        if wait > self.max_wait:
            raise Saturated(math.ceil(max(1.0, wait - self.max_wait / 2)))
        self.waiting += 1
        try:
            await self._turns.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        started = self._clock()
        try:
            yield
        finally:
            self.running -= 1
            held = self._clock() - started
            self.turn_seconds += 0.2 * (held - self.turn_seconds)
            self._turns.release()

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """``fn(*args)`` on the lists' own threads."""
        return await anyio.to_thread.run_sync(fn, *args, limiter=self.limiter)
