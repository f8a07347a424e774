"""One outbox tailer per API process, fanning new events out to watchers."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import delete, func, select

from kumo.db.engine import Database
from kumo.db.outbox_models import OutboxCounter, OutboxEvent
from kumo.watch import members
from kumo.watch.listen import OutboxListener

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    revision: int
    kind: str
    op: str
    topics: frozenset[str]
    body: dict[str, Any]
    request_id: str | None = None
    """The API request that made the change (None: not made by a request)."""

    def line(self) -> dict[str, Any]:
        out = {"revision": self.revision, "kind": self.kind, "op": self.op, "object": self.body}
        if self.request_id:
            out["request_id"] = self.request_id
        return out

    @cached_property
    def encoded(self) -> str:
        """``line()`` as compact JSON, made once for every watcher it reaches."""
        return json.dumps(self.line(), separators=(",", ":"))

    @cached_property
    def member_encoded(self) -> str:
        """``encoded`` with the port's member body (``kumo.watch.members``)."""
        return json.dumps({**self.line(), "object": members.body(self.body)}, separators=(",", ":"))

    def for_watch(self, topics: frozenset[str]) -> str | None:
        """This event's line for a watch of ``topics`` (None: not for it): a
        port that reaches it through ``members:`` topics alone as its member
        body, anything else whole."""
        common = self.topics & topics
        if not common:
            return None
        if self.kind == "port" and members.only(common):
            return self.member_encoded
        return self.encoded


def _record_lag(rows: Any) -> None:
    from kumo.telemetry.api import OUTBOX_LAG, OUTBOX_REVISION

    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    for r in rows:
        if r.created_at is not None:
            OUTBOX_LAG.observe(max(0.0, (now - r.created_at).total_seconds()))
    OUTBOX_REVISION.set(rows[-1].revision)


class Gone(Exception):
    """The revision a watcher asked for is older than what is retained."""


PRUNE_EVERY = 60.0
"""Seconds between deletions of outbox rows past the retention."""


class Subscription:
    """A watch's interest in the feed: ``wait`` returns once an event naming
    one of its topics has come since the last ``clear`` (or all were woken:
    the server is stopping). Waking only the watches an event is for keeps
    a burst of events cheap: 10,000 ports reported ACTIVE at a start woke
    all 500 watches of a server for each batch read, each making a task to
    wait again, where each event is for a handful of them."""

    def __init__(self, topics: frozenset[str]) -> None:
        self.topics = topics
        self._ready = asyncio.Event()

    def wake(self) -> None:
        self._ready.set()

    def clear(self) -> None:
        """Before reading what is new: whatever comes after wakes it again."""
        self._ready.clear()

    async def wait(self, timeout: float) -> None:
        """Until woken (at once if woken since the last ``clear``), or ``timeout``."""
        if self._ready.is_set():
            return
        try:
            async with asyncio.timeout(timeout):
                await self._ready.wait()
        except TimeoutError:
            pass


class Tailer:
    """Reads outbox rows after ``last`` every ``interval`` (or at once when
    this process committed a write) and keeps the newest ``keep`` in memory.
    On PostgreSQL it reads when a write anywhere commits (``LISTEN``, see
    ``kumo.watch.listen``) and polls only every ``idle_interval`` while
    the listener is connected."""

    def __init__(
        self,
        db: Database,
        *,
        interval: float = 0.05,
        idle_interval: float = 5.0,
        listen: bool = True,
        keep: int = 20000,
        retention: int = 200_000,
        metrics: bool = False,
    ) -> None:
        self.db = db
        self.metrics = metrics
        """Record how long events took from commit to here (``kumo_outbox_lag_seconds``)."""
        self.interval = interval
        self.idle_interval = idle_interval
        self.listener: OutboxListener | None = None
        if listen and not db.is_sqlite:
            self.listener = OutboxListener(db.url, self.poke)
        self.retention = retention
        self.recent: deque[Event] = deque(maxlen=keep)
        self.last = 0
        self._new_events = asyncio.Event()
        self._wake = asyncio.Event()
        self._by_topic: dict[str, weakref.WeakSet[Subscription]] = {}
        """Topic → the subscriptions naming it; a subscription goes when its
        watch does (``unsubscribe``), or with the watch's objects if that
        never ran to its end."""
        self._subscriptions: weakref.WeakSet[Subscription] = weakref.WeakSet()
        self._task: asyncio.Task[None] | None = None
        self._starting: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    async def start(self) -> None:
        """Start tailing, once: every request calls this, and those that come
        while the first is still reading the revision wait for that start
        (each starting its own loop and listener read the outbox again for
        every request that came at once, and fanned every event out as
        many times: 1,000 agents starting together made nine of them)."""
        if self._starting is None:
            self._starting = asyncio.ensure_future(self._start())
        await asyncio.shield(self._starting)

    async def _start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.last = await asyncio.to_thread(self._current_revision)
        self._task = asyncio.create_task(self._run())
        if self.listener is not None:
            self.listener.start()

    def poke(self) -> None:
        """Thread-safe: a local write committed; read the outbox now."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._wake.set)
            except RuntimeError:  # closed between the check and the call
                pass

    def wake_all(self) -> None:
        """Wake every waiter now (the server is stopping: they look and leave)."""
        wake, self._new_events = self._new_events, asyncio.Event()
        wake.set()
        for sub in list(self._subscriptions):
            sub.wake()

    def subscribe(self, topics: frozenset[str]) -> Subscription:
        """A subscription woken by the events naming one of ``topics``: take
        it before reading what is new, so nothing newer goes unnoticed."""
        sub = Subscription(topics)
        self._subscriptions.add(sub)
        for topic in topics:
            held = self._by_topic.get(topic)
            if held is None:
                held = self._by_topic[topic] = weakref.WeakSet()
            held.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscriptions.discard(sub)
        for topic in sub.topics:
            held = self._by_topic.get(topic)
            if held is not None:
                held.discard(sub)
                if not held:
                    del self._by_topic[topic]

    def _wake_subscribers(self, events: Iterable[Event]) -> None:
        """Wake the subscriptions the events are for, each once."""
        named: set[str] = set()
        for event in events:
            named |= event.topics
        woken: set[Subscription] = set()
        for topic in named:
            held = self._by_topic.get(topic)
            if held:
                woken.update(held)
        for sub in woken:
            sub.wake()

    async def stop(self) -> None:
        if self._starting is not None:
            await asyncio.shield(self._starting)  # a start under way ends first
            self._starting = None
        if self._task:
            self._task.cancel()
            self._task = None
        if self.listener is not None:
            await asyncio.to_thread(self.listener.stop)
        self._loop = None

    def _wait_interval(self) -> float:
        listening = self.listener is not None and self.listener.listening.is_set()
        return self.idle_interval if listening else self.interval

    def _current_revision(self) -> int:
        with self.db.read_session() as s:
            return int(s.scalar(select(OutboxCounter.value).where(OutboxCounter.id == 1)) or 0)

    def _read_after(self, after: int, limit: int = 5000) -> list[Event]:
        with self.db.read_session() as s:
            rows = s.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.revision > after)
                .order_by(OutboxEvent.revision)
                .limit(limit)
            ).all()
            if self.metrics and rows:
                _record_lag(rows)
            return [
                Event(r.revision, r.kind, r.op, frozenset(r.topics), r.body, r.request_id)
                for r in rows
            ]

    def oldest_retained(self) -> int:
        with self.db.read_session() as s:
            oldest = s.scalar(select(func.min(OutboxEvent.revision)))
            if oldest is None:
                return self._current_revision() + 1
            return int(oldest)

    def _prune(self) -> None:
        with self.db.write_session() as s:
            top = int(s.scalar(select(OutboxCounter.value).where(OutboxCounter.id == 1)) or 0)
            s.execute(delete(OutboxEvent).where(OutboxEvent.revision <= top - self.retention))
            s.commit()

    async def _run(self) -> None:
        pruned = time.monotonic()
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self._wait_interval())
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                events = await asyncio.to_thread(self._read_after, self.last)
                if time.monotonic() - pruned >= PRUNE_EVERY:
                    pruned = time.monotonic()
                    await asyncio.to_thread(self._prune)
            except Exception:  # noqa: BLE001 - a database hiccup must not kill the feed
                log.exception("outbox tail failed; retrying")
                await asyncio.sleep(1)
                continue
            if events:
                self.recent.extend(events)
                self.last = events[-1].revision
                # Wake every waiter once: they wait on this event object;
                # and the subscriptions these events are for.
                wake, self._new_events = self._new_events, asyncio.Event()
                wake.set()
                self._wake_subscribers(events)

    def holds_after(self, revision: int) -> bool:
        """Whether the events after ``revision`` are all in memory."""
        return bool(self.recent) and self.recent[0].revision <= revision + 1

    async def events_after(self, revision: int) -> list[Event]:
        """Events with revision > ``revision`` known now (from memory or the database)."""
        if self.holds_after(revision):
            # ``recent`` ascends by revision: walk back from the newest, so a
            # watcher's wake costs what is new to it, not the whole window.
            newer: list[Event] = []
            for e in reversed(self.recent):
                if e.revision <= revision:
                    break
                newer.append(e)
            newer.reverse()
            return newer
        if revision >= self.last:
            return []
        oldest = await asyncio.to_thread(self.oldest_retained)
        if revision + 1 < oldest:
            raise Gone(f"revision {revision} is no longer retained (oldest {oldest})")
        return await asyncio.to_thread(self._read_after, revision)

    async def wait(self, revision: int, timeout: float) -> None:
        """Until an event after ``revision`` may be available, or ``timeout``."""
        event = self._new_events
        if self.last > revision:
            return
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass
