"""Append change events to the outbox inside the writing transaction."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, text, update
from sqlalchemy.orm import Session

from kumo.db.outbox_models import OutboxCounter, OutboxEvent

_OUTBOX = cast(Table, OutboxEvent.__table__)
_COUNTER = cast(Table, OutboxCounter.__table__)
# Built once (SQLAlchemy reuses their compiled form), run on the session's
# connection: plain statements, no unit of work.
_TAKE = (
    update(_COUNTER)
    .where(_COUNTER.c.id == 1)
    .values(value=_COUNTER.c.value + bindparam("n"))
    .returning(_COUNTER.c.value)
)
_INSERT = insert(_OUTBOX)
_FIELDS = ("kind", "op", "object_id", "topics", "body", "created_at", "request_id")
_TAKE_ONE = (
    update(_COUNTER)
    .where(_COUNTER.c.id == 1)
    .values(value=_COUNTER.c.value + 1)
    .returning(_COUNTER.c.value)
    .cte("taken")
)
# PostgreSQL runs a data-modifying WITH: take the revision and insert the
# row in one statement, so the counter's lock is held one round trip less.
_APPEND_ONE = (
    insert(_OUTBOX)
    .from_select(
        ["revision", *_FIELDS],
        select(_TAKE_ONE.c.value, *[bindparam(f, type_=_OUTBOX.c[f].type) for f in _FIELDS]),
    )
    .returning(_OUTBOX.c.revision)
)

_NOTIFY = text("NOTIFY kumo_outbox")
"""Sent at commit, once per transaction (PostgreSQL collapses repeats)."""


@dataclass(frozen=True)
class Change:
    kind: str
    op: str  # "upsert" | "delete"
    object_id: str
    topics: tuple[str, ...]
    body: dict[str, Any] = field(hash=False, compare=False)
    request_id: str | None = field(default=None, compare=False)
    """The API request that made the change, when one did."""


def append(session: Session, changes: list[Change]) -> int | None:
    """Give ``changes`` the next revisions and add them to the outbox.

    The counter update row-locks ``outbox_counter`` until the transaction
    ends, so revisions are handed out in commit order. Several changes of
    one object in one transaction collapse to the last one, sent to the
    topics of all of them (a watcher that would have seen an earlier one
    sees where the object ended up). Returns the highest revision used, or
    None when there was nothing to append.
    """
    if not changes:
        return None
    last: dict[tuple[str, str], Change] = {}
    for change in changes:
        key = (change.kind, change.object_id)
        earlier = last.pop(key, None)
        if earlier is not None:
            topics = tuple(dict.fromkeys([*change.topics, *earlier.topics]))
            change = Change(
                change.kind, change.op, change.object_id, topics, change.body, change.request_id
            )
        last[key] = change
    ordered = list(last.values())
    conn = session.connection()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows = [
        {
            "kind": c.kind,
            "op": c.op,
            "object_id": c.object_id,
            "topics": list(c.topics),
            "body": c.body,
            "created_at": now,
            "request_id": c.request_id,
        }
        for c in ordered
    ]
    # Outbox rows are never read back in the writing transaction, so they
    # need no place in the unit of work.
    if conn.dialect.name == "postgresql":
        # Every API server's tailer listens (kumo.watch.listen): told at commit.
        conn.execute(_NOTIFY)
        if len(rows) == 1:
            return int(conn.execute(_APPEND_ONE, rows[0]).scalar_one())
    top = int(conn.execute(_TAKE, {"n": len(rows)}).scalar_one())
    first = top - len(rows) + 1
    conn.execute(_INSERT, [{"revision": first + i, **r} for i, r in enumerate(rows)])
    return top
