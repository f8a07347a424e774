"""What storage agents watch: the topic ``storage:HOST`` carries the volumes
and snapshots placed on HOST, as the bodies below (``kind`` ``volume`` and
``volume_snapshot``). The agent acts on the status (``creating``,
``extending``, ``deleting``) and the volume's ``task``; it never needs
another object to find its files.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.db.uow import UnitOfWork
from kumo.db.volume_models import Snapshot, Volume

VOLUME = "volume"
SNAPSHOT = "volume_snapshot"


def topic(host: str) -> str:
    return f"storage:{host}"


def volume_body(v: Volume) -> dict[str, Any]:
    return {
        "id": v.id,
        "status": v.status,
        "size": v.size,
        "storage_host": v.storage_host,
        "pool": v.pool,
        "task": dict(v.task or {}),
        "project_id": v.project_id,
    }


def snapshot_body(s: Snapshot) -> dict[str, Any]:
    return {
        "id": s.id,
        "status": s.status,
        "size": s.size,
        "volume_id": s.volume_id,
        "storage_host": s.storage_host,
        "pool": s.pool,
        "project_id": s.project_id,
    }


def volume_changed(uow: UnitOfWork, v: Volume, *, deleted: bool = False) -> None:
    if v.storage_host:
        op = "delete" if deleted else "upsert"
        uow.emit(VOLUME, op, v.id, (topic(v.storage_host),), volume_body(v))


def snapshot_changed(uow: UnitOfWork, s: Snapshot, *, deleted: bool = False) -> None:
    if s.storage_host:
        op = "delete" if deleted else "upsert"
        uow.emit(SNAPSHOT, op, s.id, (topic(s.storage_host),), snapshot_body(s))


def storage_objects(session: Session, hosts: set[str]) -> list[dict[str, Any]]:
    """The objects of the topics ``storage:H`` for H in ``hosts`` (the watch snapshot)."""
    if not hosts:
        return []
    out: list[dict[str, Any]] = []
    for v in session.scalars(select(Volume).where(Volume.storage_host.in_(hosts))):
        out.append({"kind": VOLUME, **volume_body(v)})
    for s in session.scalars(select(Snapshot).where(Snapshot.storage_host.in_(hosts))):
        out.append({"kind": SNAPSHOT, **snapshot_body(s)})
    return out
