"""Unit of work: one write transaction plus the outbox events it produced."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from kumo.db.engine import Database
from kumo.db.outbox import Change, append
from kumo.telemetry.request_id import current as current_request_id

T = TypeVar("T")


class UnitOfWork:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.changes: list[Change] = []

    def emit(
        self, kind: str, op: str, object_id: str, topics: tuple[str, ...], body: dict[str, Any]
    ) -> None:
        self.changes.append(Change(kind, op, object_id, topics, body, current_request_id()))


# Called (without arguments) after every successful commit in this process;
# the watch feed's tailer registers here to read new outbox rows at once.
COMMIT_LISTENERS: list[Callable[[], None]] = []


class Retry(Exception):
    """Raised inside a transaction to ask for the whole unit to run again."""


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, Retry):
        return True
    if isinstance(exc, IntegrityError):
        # A unique key lost a race (IP, MAC, VNI...). Running again re-reads
        # and either picks another value or reports the proper domain error.
        return True
    if isinstance(exc, DBAPIError):
        text = str(exc.orig).lower()
        return any(
            s in text
            for s in ("deadlock", "could not serialize", "database is locked", "lock timeout")
        )
    return False


def run_in_transaction(db: Database, fn: Callable[[UnitOfWork], T], *, attempts: int = 8) -> T:
    """Run ``fn`` in a write transaction, append its outbox events, commit.

    Deadlocks, serialisation failures and explicit ``Retry`` run the whole
    function again with a short, growing back-off; anything else rolls back
    and propagates (nothing half-written survives).
    """
    delay = 0.005
    for attempt in range(attempts):
        if db.write_lock is not None:
            with db.write_lock:
                done, result = _attempt(db, fn, attempt, attempts)
        else:
            done, result = _attempt(db, fn, attempt, attempts)
        if done:
            return result  # type: ignore[return-value]
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
    raise AssertionError("unreachable")


def _attempt(
    db: Database, fn: Callable[[UnitOfWork], T], attempt: int, attempts: int
) -> tuple[bool, T | None]:
    """One try: (True, result) on commit, (False, None) when it should run again."""
    session = db.write_session()
    uow = UnitOfWork(session)
    try:
        result = fn(uow)
        session.flush()
        append(session, uow.changes)
        session.commit()
        if uow.changes:
            for listener in COMMIT_LISTENERS:
                listener()
        return True, result
    except BaseException as exc:
        session.rollback()
        if attempt + 1 < attempts and _retryable(exc):
            return False, None
        raise
    finally:
        session.close()
