"""The tailer: in-memory window, database fallback, 410 below what is retained."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import delete

from kumo.db.engine import Database
from kumo.db.outbox_models import OutboxEvent
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.watch.tailer import Gone, Tailer


def _emit(db: Database, n: int) -> None:
    for i in range(n):

        def work(uow: UnitOfWork, i: int = i) -> None:
            uow.emit("port", "upsert", f"p{i}", ("network:n",), {"id": f"p{i}"})

        run_in_transaction(db, work)


def test_resume_from_database_and_gone_below_retention(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    try:
        _emit(db, 10)

        async def scenario() -> None:
            tailer = Tailer(db, keep=3)
            await tailer.start()
            assert tailer.last == 10
            # Not in memory (the tailer started after them): read from the database.
            events = await tailer.events_after(4)
            assert [e.revision for e in events] == [5, 6, 7, 8, 9, 10]
            # New events reach memory without a poke, by polling.
            _emit(db, 2)
            await tailer.wait(10, timeout=2.0)
            for _ in range(40):
                if tailer.last == 12:
                    break
                await asyncio.sleep(0.05)
            assert [e.revision for e in await tailer.events_after(10)] == [11, 12]
            # Pruned below revision 6: resuming from 2 is 410, from 5 still works.
            with db.write_session() as s:
                s.execute(delete(OutboxEvent).where(OutboxEvent.revision <= 5))
                s.commit()
            tailer.recent.clear()
            with pytest.raises(Gone):
                await tailer.events_after(2)
            assert (await tailer.events_after(5))[0].revision == 6
            await tailer.stop()

        asyncio.run(scenario())
    finally:
        db.dispose()


def test_on_postgresql_a_commit_anywhere_wakes_the_tailer_and_idle_it_reads_nothing(
    db_url: str,
) -> None:
    if db_url.startswith("sqlite"):
        pytest.skip("LISTEN/NOTIFY is PostgreSQL's")
    db, other = Database(db_url), Database(db_url)  # ``other``: another API server's writes
    try:

        async def scenario() -> None:
            # Polling is off (an hour): only a notification can wake it.
            tailer = Tailer(db, interval=3600, idle_interval=3600)
            reads = 0
            read_after = tailer._read_after

            def counted(after: int, limit: int = 5000):  # type: ignore[no-untyped-def]
                nonlocal reads
                reads += 1
                return read_after(after, limit)

            tailer._read_after = counted  # type: ignore[method-assign]
            await tailer.start()
            assert tailer.listener is not None
            for _ in range(100):
                if tailer.listener.listening.is_set():
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
            idle = reads
            await asyncio.sleep(1.0)
            assert reads == idle  # no polling while nothing happens
            _emit(other, 2)
            for _ in range(100):
                if tailer.last == 2:
                    break
                await asyncio.sleep(0.02)
            assert [e.revision for e in await tailer.events_after(0)] == [1, 2]
            await tailer.stop()

        asyncio.run(scenario())
    finally:
        db.dispose()
        other.dispose()


def test_the_window_answers_what_is_newer_in_order_and_encodes_each_line_once(
    sqlite_url: str,
) -> None:
    """From memory, ``events_after`` gives exactly the events newer than the
    revision, in order, also across gaps in revisions (a rolled-back
    transaction's), and an event's JSON line is made once for all watchers."""
    from kumo.watch.tailer import Event

    db = Database(sqlite_url)
    try:
        tailer = Tailer(db, keep=100)
        revisions = [1, 2, 3, 5, 8, 9, 13]
        for r in revisions:
            tailer.recent.append(Event(r, "port", "upsert", frozenset({"network:n"}), {"id": r}))
        tailer.last = revisions[-1]

        async def after(revision: int) -> list[int]:
            return [e.revision for e in await tailer.events_after(revision)]

        for since in range(0, 15):
            assert asyncio.run(after(since)) == [r for r in revisions if r > since], since
        event = tailer.recent[-1]
        assert event.encoded == '{"revision":13,"kind":"port","op":"upsert","object":{"id":13}}'
        assert event.encoded is event.encoded
    finally:
        db.dispose()


def test_requests_that_start_the_tailer_at_once_start_one(sqlite_url: str) -> None:
    """Every request starts the tailer; many at once (a thousand agents
    starting together) start one outbox loop, so each event is held and
    fanned out once."""
    db = Database(sqlite_url)
    try:
        _emit(db, 2)

        async def scenario() -> None:
            tailer = Tailer(db, interval=0.01)
            await asyncio.gather(*(tailer.start() for _ in range(20)))
            running = [t for t in asyncio.all_tasks() if "Tailer._run" in repr(t.get_coro())]
            assert len(running) == 1
            _emit(db, 3)
            for _ in range(100):
                if tailer.last == 5:
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.2)  # several polls after the last event
            assert [e.revision for e in tailer.recent] == [3, 4, 5]
            await tailer.stop()

        asyncio.run(scenario())
    finally:
        db.dispose()


def _emit_to(db: Database, topic: str, object_id: str) -> None:
    def work(uow: UnitOfWork) -> None:
        uow.emit("port", "upsert", object_id, (topic,), {"id": object_id})

    run_in_transaction(db, work)


def test_a_subscription_is_woken_by_the_events_for_its_topics_only(sqlite_url: str) -> None:
    """A watch waits on its subscription: events for other topics leave it
    asleep, one for its topics wakes it (also when it came before the wait),
    and a stopping server wakes every one."""
    db = Database(sqlite_url)
    try:

        async def woken(sub: object, within: float) -> bool:
            t0 = asyncio.get_running_loop().time()
            await sub.wait(within)  # type: ignore[attr-defined]
            return asyncio.get_running_loop().time() - t0 < within * 0.8

        async def scenario() -> None:
            tailer = Tailer(db, interval=0.01)
            await tailer.start()
            mine = tailer.subscribe(frozenset({"network:a", "host:h1"}))
            other = tailer.subscribe(frozenset({"network:b"}))
            _emit_to(db, "network:b", "p1")
            assert not await woken(mine, 0.5)
            assert await woken(other, 2.0)
            _emit_to(db, "host:h1", "p2")  # before the wait: still seen
            for _ in range(100):
                if tailer.last == 2:
                    break
                await asyncio.sleep(0.02)
            assert await woken(mine, 2.0)
            mine.clear()
            assert not await woken(mine, 0.3)
            tailer.wake_all()
            assert await woken(mine, 2.0)
            tailer.unsubscribe(mine)
            tailer.unsubscribe(other)
            assert tailer._by_topic == {}
            await tailer.stop()

        asyncio.run(scenario())
    finally:
        db.dispose()


def test_a_subscription_its_watch_dropped_is_forgotten(sqlite_url: str) -> None:
    """A watch whose stream never ran to its end leaves nothing behind."""
    import gc

    db = Database(sqlite_url)
    try:

        async def scenario() -> None:
            tailer = Tailer(db)
            sub = tailer.subscribe(frozenset({"network:a"}))
            assert len(tailer._by_topic["network:a"]) == 1
            del sub
            gc.collect()
            assert not tailer._by_topic.get("network:a")

        asyncio.run(scenario())
    finally:
        db.dispose()
