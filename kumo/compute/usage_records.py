"""Usage records: a ``server_usage`` row follows each server's life.

One session hook, so every path that creates, launches, renames or deletes
a server (the API, the agents' reports, admin actions) keeps the record
without knowing of it: a new server gets its row with the flavor's size; a
change of ``launched_at``, ``vm_state`` or ``name`` is copied; a deleted
server's row gets ``terminated_at`` and stays.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import event, inspect, or_, select
from sqlalchemy.orm import Session

from kumo.compute.usage import Lifetime
from kumo.db.base import new_uuid, utcnow
from kumo.db.compute_models import Server, ServerInterface, ServerUsage
from kumo.db.network_models import Port


def _now() -> dt.datetime:
    """Now in UTC to the microsecond (usage counts seconds)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _local_gb(server: Server) -> int:
    flavor = server.flavor or {}
    return int(flavor.get("disk") or 0) + int(flavor.get("ephemeral") or 0)


def _record(session: Session, server: Server) -> ServerUsage:
    row = session.get(ServerUsage, server.id)
    if row is None:
        row = ServerUsage(
            server_id=server.id,
            project_id=server.project_id,
            user_id=server.user_id,
            name=server.name,
            flavor_name=str((server.flavor or {}).get("name") or server.flavor_id),
            vcpus=server.vcpus,
            memory_mb=server.memory_mb,
            local_gb=_local_gb(server),
            state=server.vm_state or "building",
            created_at=server.created_at or utcnow(),
            launched_at=server.launched_at,
        )
        session.add(row)
    return row


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    for obj in list(session.new):
        if isinstance(obj, Server):
            if obj.id is None:
                obj.id = new_uuid()  # what the column default would give it in this flush
            _record(session, obj)
    for obj in list(session.dirty):
        if isinstance(obj, Server) and obj.id is not None:
            row = _record(session, obj)
            row.name = obj.name
            if obj.vm_state and obj.vm_state != "building":
                row.state = obj.vm_state
            if obj.launched_at is not None and row.launched_at is None:
                row.launched_at = obj.launched_at
        elif (
            isinstance(obj, Port)
            and obj.status == "ACTIVE"
            and inspect(obj).attrs.status.history.has_changes()
        ):
            _port_active(session, obj)
    for obj in list(session.deleted):
        if isinstance(obj, Server):
            row = _record(session, obj)
            row.state = "deleted"
            row.terminated_at = _now()


def _port_active(session: Session, port: Port) -> None:
    """A server is launched when its last port becomes ACTIVE (its status
    is derived from its ports; the server row changes later, if ever)."""
    link = session.get(ServerInterface, port.id)
    if link is None:
        return
    row = session.get(ServerUsage, link.server_id)
    if row is None or row.launched_at is not None or row.terminated_at is not None:
        return
    ports = session.scalars(
        select(Port)
        .join(ServerInterface, ServerInterface.port_id == Port.id)
        .where(ServerInterface.server_id == link.server_id)
    )
    if all(p.status == "ACTIVE" for p in ports):
        row.launched_at = _now()
        row.state = "active"


def install() -> None:
    """Register the hook (once per process)."""
    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)


def lifetimes(
    session: Session, start: dt.datetime, stop: dt.datetime, project_id: str | None
) -> list[Lifetime]:
    """The records of servers that lived within [start, stop] (of one project)."""
    q = select(ServerUsage).where(
        or_(ServerUsage.terminated_at.is_(None), ServerUsage.terminated_at >= start),
        or_(ServerUsage.launched_at.is_(None), ServerUsage.launched_at <= stop),
    )
    if project_id is not None:
        q = q.where(ServerUsage.project_id == project_id)
    return [
        Lifetime(
            server_id=r.server_id,
            project_id=r.project_id,
            name=r.name,
            flavor=r.flavor_name,
            vcpus=r.vcpus,
            memory_mb=r.memory_mb,
            local_gb=r.local_gb,
            state=r.state,
            launched_at=r.launched_at,
            terminated_at=r.terminated_at,
        )
        for r in session.scalars(q.order_by(ServerUsage.created_at, ServerUsage.server_id))
    ]
