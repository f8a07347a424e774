"""Port views for lists, each rendered once per revision of its port.

A host's whole-interest list (``kumo.watch.snapshot``) holds hundreds of
ports, most of them (the members of a big group, the ports of its
networks) the same from one host's list to the next. Every change to a
port, its addresses, groups and tags included, bumps its
``revision_number`` (``kumo.network.core.networks.touch``), so a port's
``port_view`` is a function of (id, revision): a list reads the ids and
revisions of its ports in its own snapshot and renders, with plain SQL,
only those it does not hold at that revision. The key also carries
``updated_at``, so even two writers that gave a port the same revision in
different seconds cannot be confused.

What a port's watch body adds to its view (its instance's hostname, its
QoS rules, its trunk) depends on other objects and is not kept here: the
list adds it afresh, in its snapshot. Several API servers on one database
each keep their own views; a view is used only for the revision it was
rendered from, whichever server made the change.

The views are shared between lists and never changed: their users make
new dicts (``{**view, ...}``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from kumo.compute import hostnames
from kumo.network.ports import read_views
from kumo.network.qos import attach as qos_attach
from kumo.network.trunks import subports as trunk_subports
from kumo.watch import encoded, members
from kumo.watch.per_database import PerDatabase

Key = tuple[int, dt.datetime | None]
"""(revision_number, updated_at) of a port."""


class Entry:
    """A port's view at one revision, with its JSON and, made when first
    asked, its list object when its watch body adds only the hostname the
    port has when it is no server's (``plain``)."""

    __slots__ = ("key", "view", "json", "hostname", "_plain", "_member")

    def __init__(self, key: Key, view: dict[str, Any]) -> None:
        self.key = key
        self.view = view
        self.json = encoded.inner(view)
        self.hostname = hostnames.port_hostname(view, {})
        self._plain: encoded.Encoded | None = None
        self._member: encoded.Encoded | None = None

    def member(self) -> encoded.Encoded:
        """The port's list object as a member body (``kumo.watch.members``)."""
        if self._member is None:
            body = {"kind": "port", **members.body(self.view)}
            self._member = encoded.Encoded(body, encoded.dumps(body))
        return self._member

    def listed(
        self,
        servers: dict[str, str],
        rules: list[dict[str, Any]] | None,
        trunk: dict[str, Any] | None,
    ) -> encoded.Encoded:
        """The port's list object: ``{"kind": "port", **view}`` with what
        its watch body adds (``kumo.watch.snapshot``): its hostname (the
        names of the servers among the list's ports: ``servers``), its QoS
        ``rules`` if it has an effective policy, its ``trunk`` if a subport."""
        view = self.view
        hostname = self.hostname
        if view["device_id"] in servers:
            hostname = hostnames.port_hostname(view, servers)
        plain = hostname == self.hostname and rules is None and trunk is None
        if plain and self._plain is not None:
            return self._plain
        added: dict[str, Any] = {hostnames.WATCH_KEY: hostname}
        if rules is not None:
            added[qos_attach.WATCH_KEY] = rules
        if trunk is not None:
            added[trunk_subports.WATCH_KEY] = trunk
        made = encoded.port(view, self.json, added)
        if plain:
            self._plain = made
        return made


class PortViews:
    """Port id → its ``Entry``, for the ports of one database."""

    def __init__(self, limit: int = 50_000) -> None:
        self.limit = limit
        """Entries kept at most (all are dropped past it: a few KiB each)."""
        self._known: dict[str, Entry] = {}
        self.rendered = 0
        """Views rendered since the start (a test's and a benchmark's measure)."""

    def entries(self, session: Session, wanted: Iterable[Any]) -> list[Entry]:
        """The entries of ``wanted`` (rows of ``id``, ``revision_number``,
        ``updated_at``, in that order, read in ``session``'s snapshot), in their order."""
        # Rows are taken apart as tuples: a named column's lookup on each of
        # 1,000 rows per list cost more than the comparison it serves.
        rows = [(r[0], (r[1], r[2])) for r in wanted]
        found: dict[str, Entry] = {}
        stale: list[str] = []
        known_of = self._known.get
        for port_id, key in rows:
            known = known_of(port_id)
            if known is not None and known.key == key:
                found[port_id] = known
            else:
                stale.append(port_id)
        if stale:
            if len(self._known) + len(stale) > self.limit:
                self._known.clear()
            for key, view in render(session, stale):
                found[view["id"]] = self._known[view["id"]] = Entry(key, view)
            self.rendered += len(stale)
        return [found[port_id] for port_id, _ in rows if port_id in found]


def render(session: Session, ids: list[str]) -> list[tuple[Key, dict[str, Any]]]:
    """(key, ``port_view``) of each port of ``ids`` that exists, read in
    plain SQL (``kumo.network.ports.read_views``)."""
    return [((r.revision_number, r.updated_at), view) for r, view in read_views.read(session, ids)]


of: PerDatabase[PortViews] = PerDatabase(PortViews)
"""This process's views of ``db``'s ports."""
