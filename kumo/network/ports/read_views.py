"""Ports' API views read in plain SQL, many ports at a time.

The port list's cache (``NetworkService``) and the watch's whole-interest
lists (``kumo.watch.port_views``) both render the ports they do not hold
at the current revision; this reads those ports' rows, addresses, group
bindings and tags in four statements per chunk (no ORM objects) and gives
each row with its ``port_view``: the same view as from a ``Port`` object
(addresses in allocation order, groups sorted by id, tags sorted).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, cast

from sqlalchemy import Row, Table, select
from sqlalchemy.orm import Session

from kumo.db.network_models import IPAllocation, Port
from kumo.db.secgroup_models import PortSecurityGroup
from kumo.network import tags as taglib
from kumo.network.views import port_view

_PORTS = cast(Table, Port.__table__)
_ALLOCATIONS = cast(Table, IPAllocation.__table__)
_BINDINGS = cast(Table, PortSecurityGroup.__table__)

CHUNK = 500
"""Ports per statement (bound parameters stay well under SQLite's limit)."""


def read(session: Session, ids: Sequence[str]) -> Iterator[tuple[Row[Any], dict[str, Any]]]:
    """Each existing port of ``ids`` as (its row, its view), a chunk at a time."""
    c, a, b = _PORTS.c, _ALLOCATIONS.c, _BINDINGS.c
    conn = session.connection()
    for start in range(0, len(ids), CHUNK):
        chunk = list(ids[start : start + CHUNK])
        rows = conn.execute(select(_PORTS).where(c.id.in_(chunk))).all()
        ips: dict[str, list[dict[str, str]]] = {}
        aq = select(a.port_id, a.subnet_id, a.ip_address).where(a.port_id.in_(chunk))
        for port_id, subnet_id, address in conn.execute(aq.order_by(a.id)):
            ips.setdefault(port_id, []).append({"subnet_id": subnet_id, "ip_address": address})
        groups: dict[str, list[str]] = {}
        bq = select(b.port_id, b.security_group_id).where(b.port_id.in_(chunk))
        for port_id, group_id in conn.execute(bq.order_by(b.port_id, b.security_group_id)):
            groups.setdefault(port_id, []).append(group_id)
        tags = taglib.tags_for(session, chunk)
        for r in rows:
            yield r, port_view(r, tags.get(r.id, []), ips.get(r.id, []), groups.get(r.id, []))
