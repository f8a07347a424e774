"""Each topic's list objects, kept until an event says they changed.

Most of a host's whole-interest list (``kumo.watch.snapshot``) is topics
many hosts share: the ``agents`` topic (every agent), ``metering``, the
networks a hundred hosts serve, the members of a big group. When every
agent lists at once (a restart, an API server's failover), each of those
topics would be read and rendered again for each host. Here a list keeps
the objects it read for each topic (a *fragment*, read in the list's
snapshot at revision R) and the next lists reuse them for as long as no
event says the topic changed.

A fragment read at R is the topic's state at any later revision R' until
an event in (R, R'] names the topic, or names an object the fragment
holds: the watch feed rests on this (every change to what a topic's list
holds is an event to that topic; a change a host does not compile from,
such as another host's port status, goes to fewer topics, and the
object-level check covers it). So a list first takes in the outbox rows up
to its snapshot's revision (``catch_up``), then uses a fragment only if it
was read at or before that revision and is still held; a fragment read
before an event that touches it is never stored. A gap in the outbox
(rows pruned, more than ``CATCH_UP_LIMIT`` behind) drops everything, as
does a fragment's age past ``FRESH`` seconds, a bound on what a change
nothing announced would cost (none should).

Per process and database, like ``kumo.watch.port_views``; the objects are
shared between lists and never changed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.db.outbox_models import OutboxEvent
from kumo.watch import encoded
from kumo.watch.per_database import PerDatabase

Key = tuple[str, str]
"""(kind, id) of a list object (the outbox's kind and ``object_id``)."""

CATCH_UP_LIMIT = 5000
"""At most this many outbox rows read to catch up; further behind, all is dropped."""

FRESH = 30.0
"""Seconds a fragment is used at most."""

KEEP = 20_000
"""Fragments, or touched objects remembered, past which all are dropped."""


Keyed = tuple[Key | None, encoded.Encoded]
"""A fragment's object with its key (None: it has no kind or no id)."""


class _Fragment:
    __slots__ = ("revision", "made", "objects", "keys")

    def __init__(self, revision: int, objects: Sequence[dict[str, Any]]) -> None:
        self.revision = revision
        self.made = time.monotonic()
        self.objects = keyed(objects)
        self.keys = frozenset(k for k, _ in self.objects if k is not None)


def keyed(objects: Sequence[dict[str, Any]]) -> tuple[Keyed, ...]:
    """The objects, each with its JSON, keyed."""
    return tuple((_key(o), _encoded(o)) for o in objects)


def _key(obj: dict[str, Any]) -> Key | None:
    kind, object_id = obj.get("kind"), obj.get("id")
    if not isinstance(kind, str) or object_id is None:
        return None
    return (kind, str(object_id))


def _encoded(obj: dict[str, Any]) -> encoded.Encoded:
    """The object with its JSON, written once for every list that uses it."""
    return obj if isinstance(obj, encoded.Encoded) else encoded.Encoded(obj, encoded.dumps(obj))


class Fragments:
    """Topic → its fragment, for one database; safe across list threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, _Fragment] = {}
        self._holders: dict[Key, set[str]] = {}
        """Object → the topics whose fragments hold it."""
        self._topic_touched: dict[str, int] = {}
        self._object_touched: dict[Key, int] = {}
        """The last revision an event named the topic / the object, up to ``seen``."""
        self.seen = 0
        """Events up to this revision are taken in."""
        self.floor = 0
        """Revision of the last drop of everything: nothing read before it is stored."""
        self.reused = 0
        self.read = 0
        """Fragments used again / read anew since the start (a test's and a benchmark's measure)."""

    def catch_up(self, session: Session, revision: int) -> None:
        """Take in the events up to ``revision`` (``session``'s snapshot's)."""
        seen = self.seen
        if revision <= seen:
            return
        rows: list[Any] = []
        if seen > 0 and revision - seen <= CATCH_UP_LIMIT:
            o = OutboxEvent
            q = (
                select(o.revision, o.kind, o.object_id, o.topics)
                .where(o.revision > seen, o.revision <= revision)
                .order_by(o.revision)
            )
            rows = list(session.execute(q))
        with self._lock:
            if revision <= self.seen:
                return
            if seen == 0 or len(rows) != revision - seen:  # first, too far behind, or pruned
                self._drop_all(revision)
                return
            for rev, kind, object_id, topics in rows:
                if rev > self.seen:
                    self._touch(rev, (kind, object_id), topics)
            self.seen = revision

    def get(self, topic: str, revision: int) -> tuple[Keyed, ...] | None:
        """The topic's objects at ``revision`` if held (``catch_up`` to it first)."""
        with self._lock:
            found = self._held.get(topic)
            if found is None or found.revision > revision:
                return None
            if time.monotonic() - found.made > FRESH:
                self._drop(topic)
                return None
            self.reused += 1
            return found.objects

    def put(
        self, topic: str, revision: int, objects: Sequence[dict[str, Any]]
    ) -> tuple[Keyed, ...]:
        """Keep the topic's objects read at ``revision`` (after ``catch_up``
        to it) if no event after it changed them; they come back keyed."""
        made = _Fragment(revision, objects)
        with self._lock:
            self.read += 1
            if revision < self.floor or self._topic_touched.get(topic, 0) > revision:
                return made.objects
            touched = self._object_touched
            if touched and any(touched.get(k, 0) > revision for k in made.keys):
                return made.objects
            known = self._held.get(topic)
            if known is not None:
                if known.revision >= revision:
                    return made.objects
                self._drop(topic)
            if len(self._held) >= KEEP:
                self._drop_all(self.seen)
            self._held[topic] = made
            for k in made.keys:
                self._holders.setdefault(k, set()).add(topic)
        return made.objects

    def _touch(self, revision: int, key: Key, topics: Sequence[str]) -> None:
        for topic in topics:
            self._topic_touched[topic] = revision
            if topic in self._held:
                self._drop(topic)
        for topic in tuple(self._holders.get(key, ())):
            self._topic_touched[topic] = revision
            self._drop(topic)
        if len(self._object_touched) >= KEEP or len(self._topic_touched) >= KEEP:
            self._drop_all(revision)
        self._object_touched[key] = revision

    def _drop(self, topic: str) -> None:
        gone = self._held.pop(topic, None)
        if gone is None:
            return
        for k in gone.keys:
            holders = self._holders.get(k)
            if holders is not None:
                holders.discard(topic)
                if not holders:
                    del self._holders[k]

    def _drop_all(self, revision: int) -> None:
        self._held.clear()
        self._holders.clear()
        self._topic_touched.clear()
        self._object_touched.clear()
        self.seen = max(self.seen, revision)
        self.floor = self.seen


of: PerDatabase[Fragments] = PerDatabase(Fragments)
"""This process's fragments of ``db``'s topics."""
