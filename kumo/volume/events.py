"""What storage agents watch: the topic ``storage:HOST`` carries the volumes
and snapshots placed on HOST, as the bodies below (``kind`` ``volume`` and
``volume_snapshot``). The agent acts on the status (``creating``,
``extending``, ``deleting``) and the volume's ``task``; it never needs
another object to find its files. A replicated volume goes to its
replica's host too (``replica``: host, pool, NBD address; ``primary``:
the primary's): the primary's storage daemon mirrors every write to an
NBD export of the replica's file that the replica's host serves.

Attachments to servers (``kind`` ``volume_attachment``) go to two hosts'
``storage:`` topics: the volume's storage host (whose storage daemon
exports the volume to the compute host, and to no other) and the
server's compute host (whose agent plugs the export into the server and
unplugs it when the attachment is ``detaching``). Each body carries both
ends' addresses, so neither side needs another object.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from kumo.db.agent_models import Agent
from kumo.db.compute_models import Server
from kumo.db.uow import UnitOfWork
from kumo.db.volume_models import (
    QosSpecs,
    Snapshot,
    StorageHost,
    Volume,
    VolumeAttachment,
    VolumeType,
)
from kumo.volume import throttle

VOLUME = "volume"
SNAPSHOT = "volume_snapshot"
ATTACHMENT = "volume_attachment"


def topic(host: str) -> str:
    return f"storage:{host}"


AGENT_WORK = ("creating", "extending", "deleting")


def _endpoint(session: Session, host: str | None) -> dict[str, Any] | None:
    storage = session.get(StorageHost, host) if host else None
    if storage is None:
        return None
    return {"host": storage.host, "address": storage.export_address, "port": storage.export_port}


def volume_body(session: Session, v: Volume) -> dict[str, Any]:
    """A volume an administrator reset (``held``) is published with the status
    ``reset``, as a reset snapshot is: the agent acts on no status of that name."""
    body: dict[str, Any] = {
        "id": v.id,
        "status": "reset" if v.held and v.status in AGENT_WORK else v.status,
        "size": v.size,
        "storage_host": v.storage_host,
        "pool": v.pool,
        "task": dict(v.task or {}),
        "project_id": v.project_id,
        "replication_status": v.replication_status,
    }
    if v.replica_host:
        body["replica"] = {
            "pool": v.replica_pool,
            **(_endpoint(session, v.replica_host) or {"host": v.replica_host}),
        }
        body["primary"] = _endpoint(session, v.storage_host) or {"host": v.storage_host}
    return body


def _volume_topics(v: Volume) -> tuple[str, ...]:
    return tuple(topic(h) for h in dict.fromkeys([v.storage_host, v.replica_host]) if h)


def snapshot_body(s: Snapshot) -> dict[str, Any]:
    """A snapshot an administrator reset (``held``) is published with the status
    ``reset``: the agent acts on ``creating`` and ``deleting`` only, and a reset
    to one of those states is a fact, not an operation. A member of a group
    snapshot names every member (``group_members``): the agent takes the
    attached ones in one transaction, so it waits until it has them all (the
    watch delivers them one event at a time)."""
    members: list[str] = []
    session = object_session(s)
    if s.group_snapshot_id and session is not None:
        members = sorted(session.scalars(
            select(Snapshot.id).where(Snapshot.group_snapshot_id == s.group_snapshot_id)))  # fmt: skip
    return {
        "id": s.id,
        "status": "reset" if s.held else s.status,
        "size": s.size,
        "volume_id": s.volume_id,
        "group_snapshot_id": s.group_snapshot_id,
        "group_members": members,
        "storage_host": s.storage_host,
        "pool": s.pool,
        "project_id": s.project_id,
    }


def volume_changed(uow: UnitOfWork, v: Volume, *, deleted: bool = False) -> None:
    topics = _volume_topics(v)
    if topics:
        op = "delete" if deleted else "upsert"
        uow.emit(VOLUME, op, v.id, topics, volume_body(uow.session, v))


def snapshot_changed(uow: UnitOfWork, s: Snapshot, *, deleted: bool = False) -> None:
    if s.storage_host:
        op = "delete" if deleted else "upsert"
        uow.emit(SNAPSHOT, op, s.id, (topic(s.storage_host),), snapshot_body(s))


def _host_address(session: Session, host: str | None) -> str:
    if not host:
        return ""
    for agent in session.scalars(select(Agent).where(Agent.host == host)):
        address = (agent.configurations or {}).get("tunnel_ip")
        if address:
            return str(address)
    return ""


def _qos(session: Session, v: Volume) -> dict[str, int]:
    """The front-end QoS limits of the volume's type, for its compute host."""
    vtype = session.get(VolumeType, v.volume_type_id)
    specs = session.get(QosSpecs, vtype.qos_specs_id) if vtype and vtype.qos_specs_id else None
    if specs is None:
        return {}
    return throttle.limits(specs.consumer, dict(specs.specs or {}), v.size)


def attachment_body(session: Session, a: VolumeAttachment, v: Volume) -> dict[str, Any]:
    storage = session.get(StorageHost, v.storage_host) if v.storage_host else None
    server = session.get(Server, a.instance_uuid) if a.instance_uuid else None
    return {
        "id": a.id,
        "volume_id": v.id,
        "server_id": a.instance_uuid,
        "status": a.attach_status,
        "mode": a.attach_mode,
        "device": a.mountpoint,
        "boot_index": a.boot_index,
        "host": a.attached_host,
        "host_address": _host_address(session, a.attached_host),
        "driver": server.driver if server is not None else "",
        "storage_host": v.storage_host,
        "pool": v.pool,
        "export": {
            "address": storage.export_address if storage is not None else None,
            "port": storage.export_port if storage is not None else None,
            "name": a.id,
        },
        "qos": _qos(session, v),
    }


def _attachment_topics(a: VolumeAttachment, v: Volume) -> tuple[str, ...]:
    return tuple(topic(h) for h in dict.fromkeys([v.storage_host, a.attached_host]) if h)


def attachment_changed(
    uow: UnitOfWork, a: VolumeAttachment, v: Volume, *, deleted: bool = False
) -> None:
    """An attachment to a server on a host: both ends are told (nothing for
    a bare reservation, which no host serves)."""
    if not a.attached_host or not a.instance_uuid:
        return
    topics = _attachment_topics(a, v)
    if topics:
        op = "delete" if deleted else "upsert"
        uow.emit(ATTACHMENT, op, a.id, topics, attachment_body(uow.session, a, v))


def storage_objects(session: Session, hosts: set[str]) -> list[dict[str, Any]]:
    """The objects of the topics ``storage:H`` for H in ``hosts`` (the watch snapshot)."""
    if not hosts:
        return []
    out: list[dict[str, Any]] = []
    for v in session.scalars(
        select(Volume).where(Volume.storage_host.in_(hosts) | Volume.replica_host.in_(hosts))
    ):
        out.append({"kind": VOLUME, **volume_body(session, v)})
    for s in session.scalars(select(Snapshot).where(Snapshot.storage_host.in_(hosts))):
        out.append({"kind": SNAPSHOT, **snapshot_body(s)})
    rows = session.execute(
        select(VolumeAttachment, Volume)
        .join(Volume, Volume.id == VolumeAttachment.volume_id)
        .where(
            VolumeAttachment.attached_host.in_(hosts) | Volume.storage_host.in_(hosts),
            VolumeAttachment.instance_uuid.is_not(None),
            VolumeAttachment.attached_host.is_not(None),
        )
    )
    for a, v in rows:
        out.append({"kind": ATTACHMENT, **attachment_body(session, a, v)})
    return out
