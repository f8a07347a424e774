"""The outbox hands out revisions in commit order, even under concurrency."""

from __future__ import annotations

import threading

from sqlalchemy import select

from kumo.db.engine import Database
from kumo.db.outbox_models import OutboxEvent
from kumo.db.uow import UnitOfWork, run_in_transaction


def _emit(n: int, tag: str):  # type: ignore[no-untyped-def]
    def work(uow: UnitOfWork) -> None:
        for i in range(n):
            uow.emit("thing", "upsert", f"{tag}-{i}", ("t:1",), {"tag": tag, "i": i})

    return work


def test_revisions_are_dense_and_ordered(db_url: str) -> None:
    db = Database(db_url)
    try:
        threads = [
            threading.Thread(
                target=lambda t=t: [run_in_transaction(db, _emit(3, f"{t}-{k}")) for k in range(10)]
            )
            for t in range(8)
        ]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        with db.read_session() as s:
            events = s.scalars(select(OutboxEvent).order_by(OutboxEvent.revision)).all()
        assert [e.revision for e in events] == list(range(1, 8 * 10 * 3 + 1))
        # Every transaction's three events are contiguous: nothing interleaves.
        for k in range(0, len(events), 3):
            tags = {e.body["tag"] for e in events[k : k + 3]}
            assert len(tags) == 1
    finally:
        db.dispose()


def test_single_and_multi_change_transactions_share_one_dense_order(db_url: str) -> None:
    """One change goes in with its own statement on PostgreSQL; the order stays one."""
    db = Database(db_url)
    try:
        threads = [
            threading.Thread(
                target=lambda t=t: [
                    run_in_transaction(db, _emit(1 + t % 2, f"{t}-{k}")) for k in range(10)
                ]
            )
            for t in range(8)
        ]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        with db.read_session() as s:
            events = s.scalars(select(OutboxEvent).order_by(OutboxEvent.revision)).all()
        assert [e.revision for e in events] == list(range(1, 4 * 10 * 1 + 4 * 10 * 2 + 1))
        by_tag: dict[str, list[int]] = {}
        for e in events:
            by_tag.setdefault(e.body["tag"], []).append(e.revision)
            assert (e.kind, e.op, e.topics) == ("thing", "upsert", ["t:1"])
            assert e.object_id == f"{e.body['tag']}-{e.body['i']}"
            assert e.created_at is not None
        for revisions in by_tag.values():  # a transaction's events are contiguous
            assert revisions == list(range(revisions[0], revisions[0] + len(revisions)))
    finally:
        db.dispose()


def test_failed_transaction_leaves_no_event(db_url: str) -> None:
    db = Database(db_url)
    try:

        def boom(uow: UnitOfWork) -> None:
            uow.emit("thing", "upsert", "x", ("t:1",), {})
            raise ValueError("no")

        try:
            run_in_transaction(db, boom)
        except ValueError:
            pass
        run_in_transaction(db, _emit(1, "ok"))
        with db.read_session() as s:
            events = s.scalars(select(OutboxEvent)).all()
        assert [(e.revision, e.object_id) for e in events] == [(1, "ok-0")]
    finally:
        db.dispose()


def test_same_object_twice_in_one_transaction_collapses(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    try:

        def twice(uow: UnitOfWork) -> None:
            uow.emit("thing", "upsert", "a", ("t:1",), {"v": 1})
            uow.emit("thing", "upsert", "b", ("t:1",), {"v": 1})
            uow.emit("thing", "upsert", "a", ("t:1",), {"v": 2})

        run_in_transaction(db, twice)
        with db.read_session() as s:
            events = s.scalars(select(OutboxEvent).order_by(OutboxEvent.revision)).all()
        assert [(e.object_id, e.body["v"]) for e in events] == [("b", 1), ("a", 2)]
    finally:
        db.dispose()


def test_a_collapsed_change_goes_to_the_topics_of_all(sqlite_url: str) -> None:
    """A watcher of a topic only an earlier change named sees where the object ended up."""
    db = Database(sqlite_url)
    try:

        def moved(uow: UnitOfWork) -> None:
            uow.emit("thing", "upsert", "a", ("t:1", "host:old"), {"v": 1})
            uow.emit("thing", "upsert", "a", ("t:1", "host:new"), {"v": 2})

        run_in_transaction(db, moved)
        with db.read_session() as s:
            (event,) = s.scalars(select(OutboxEvent)).all()
        assert event.body == {"v": 2}
        assert event.topics == ["t:1", "host:new", "host:old"]
    finally:
        db.dispose()
