"""The id and revision of each port a list shows, in the list's order.

A port list reads only these two columns and takes each port's view from
the cache kept under (id, revision) (``NetworkService.list_ports``). The
statement depends only on which filters the request names and whether the
caller sees every port, so it is built once per such shape with its values
as bound parameters, not rebuilt (and its cache key walked from fresh
objects) at every list; it runs on a plain connection.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, Connection, Row, Select, Table, bindparam, select

from kumo.db.network_models import Network, Port

_PORTS = cast(Table, Port.__table__)
_NETWORKS = cast(Table, Network.__table__)

_statements: dict[tuple[tuple[str, ...], bool, bool], Select[str, int]] = {}


def _statement(
    columns: Mapping[str, ColumnElement[Any]], keys: tuple[str, ...], restricted: bool, bound: bool
) -> Select[str, int]:
    """``bound``: the caller's project is a value (bound as ``project``);
    else it has none, and only ports of no project match (``IS NULL``, as
    ``= NULL`` matches nothing)."""
    found = _statements.get((keys, restricted, bound))
    if found is not None:
        return found
    c = _PORTS.c
    q = select(c.id, c.revision_number)
    for n, key in enumerate(keys):
        q = q.where(columns[key].in_(bindparam(f"filter_{n}", expanding=True)))
    if restricted:
        nets = _NETWORKS.c
        project: Any = bindparam("project") if bound else None
        own_nets = select(nets.id).where(nets.project_id == project)
        q = q.where((c.project_id == project) | c.network_id.in_(own_nets))
    q = q.order_by(c.created_at, c.id)
    _statements[(keys, restricted, bound)] = q
    return q


def read(
    conn: Connection,
    columns: Mapping[str, ColumnElement[Any]],
    prefilters: Mapping[str, list[str]],
    project_id: str | None,
    restricted: bool,
) -> Sequence[Row[str, int]]:
    """(id, revision_number) of the ports matching every prefilter on a
    column of ``columns`` (any of its values), by creation; only those of
    ``project_id`` or on its networks when ``restricted``."""
    keys = tuple(k for k in prefilters if k in columns)
    params: dict[str, Any] = {f"filter_{n}": prefilters[k] for n, k in enumerate(keys)}
    bound = project_id is not None
    if restricted and bound:
        params["project"] = project_id
    return conn.execute(_statement(columns, keys, restricted, bound), params).all()
