"""Replicated volumes: the replication status machine and failover of a backend.

A volume of a type with ``replication_enabled='<is> True'`` is placed on a
primary pool and a replica pool on another storage host (the scheduler's
``place_pair``). Its ``replication_status`` moves:

- ``enabling`` when placed (the primary's storage daemon starts mirroring);
- ``enabled`` when the primary's agent reports the mirror in step (every
  write acknowledged to a client is then on both hosts), ``error`` when it
  reports the mirror broken (the replica's host unreachable); either way
  again as the mirror recovers or breaks;
- ``failed-over`` by ``failover``: the replica became the primary. Nothing
  moves it out of ``failed-over`` (failing back is not supported).

``failover`` (Cinder's ``os-services/failover_host`` and, from 3.26,
``os-services/failover``) promotes the replicas of every replicated volume
whose primary is on the failed host: the volume's primary becomes its
replica's host and pool, attachments are handed to the new primary (its
storage daemon exports them; the compute hosts reopen their disks from it)
and the failed host's service shows ``active_backend_id``. Volumes that
are not replicated stay where they are.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.uow import UnitOfWork
from kumo.db.volume_models import StorageHost, Volume, VolumeAttachment
from kumo.errors import BadRequest, NotFound
from kumo.policy import authorize
from kumo.volume import common, events

REPORTED = ("enabled", "error")
"""What a primary's agent may report about its mirror."""
MOVABLE = ("enabling", "enabled", "error")
"""The statuses a report may move (never ``disabled`` nor ``failed-over``)."""


def next_status(current: str, reported: str) -> str | None:
    """The status after a primary's report (None: the report changes nothing)."""
    if current not in MOVABLE or reported not in REPORTED or current == reported:
        return None
    return reported


def apply_report(uow: UnitOfWork, v: Volume, item: dict[str, Any]) -> bool:
    """One primary's report on a volume's mirror; True when it changed."""
    new = next_status(v.replication_status, str(item.get("replication_status")))
    if new is None:
        return False
    v.replication_status = new
    v.updated_at = utcnow()
    events.volume_changed(uow, v)
    return True


def _host(uow: UnitOfWork, name: str) -> StorageHost:
    host = uow.session.get(StorageHost, name.split("@", 1)[0])
    if host is None:
        raise NotFound(f"Service {name} could not be found.", kind="ServiceNotFound")
    return host


def failover(uow: UnitOfWork, ctx: RequestContext, body: Any) -> list[str]:
    """Promote the replicas of the volumes whose primary is on ``host``; the
    ids of the volumes failed over."""
    authorize(ctx, "volume:failover_host")
    if not isinstance(body, dict):
        raise BadRequest("Expected {'host': ..., 'backend_id': ...}.")
    name = common.text(body.get("host"), "host", required=True) or ""
    if body.get("cluster"):
        raise BadRequest("Failing over a cluster is not supported: give the host.")
    failed = _host(uow, name)
    backend_id = common.text(body.get("backend_id"), "backend_id")
    if backend_id == "default":
        raise BadRequest(
            "Invalid input received: failing back to the default backend is not supported "
            "(the former primaries hold stale data)."
        )
    if failed.active_backend_id:
        raise BadRequest(
            f"Invalid input received: host {name} is failed over already "
            f"(to {failed.active_backend_id})."
        )
    target = _host(uow, backend_id).host if backend_id else None
    if target == failed.host:
        raise BadRequest(f"Invalid input received: backend_id {backend_id} is the failed host.")
    s = uow.session
    query = select(Volume).where(
        Volume.storage_host == failed.host, Volume.replica_host.is_not(None)
    )
    if target is not None:
        query = query.where(Volume.replica_host == target)
    promoted: list[str] = []
    targets: list[str] = []
    for v in s.scalars(query.order_by(Volume.id).with_for_update()):
        if v.replication_status == "failed-over" or v.status in ("creating", "deleting"):
            continue
        _promote(uow, v)
        promoted.append(v.id)
        targets.append(str(v.storage_host))
    failed.active_backend_id = target or ",".join(sorted(set(targets))) or "none"
    failed.disabled = True
    failed.disabled_reason = f"failed over to {failed.active_backend_id}"
    return promoted


def _promote(uow: UnitOfWork, v: Volume) -> None:
    s = uow.session
    old = str(v.storage_host)
    attachments = list(
        s.scalars(select(VolumeAttachment).where(VolumeAttachment.volume_id == v.id))
    )
    for a in attachments:  # the failed host stops exporting (should it come back)
        if a.attached_host and a.instance_uuid and a.attached_host != old:
            uow.emit(events.ATTACHMENT, "delete", a.id, (events.topic(old),),
                     events.attachment_body(s, a, v))  # fmt: skip
    v.storage_host, v.replica_host = v.replica_host, old
    v.pool, v.replica_pool = v.replica_pool, v.pool
    v.replication_status = "failed-over"
    v.updated_at = utcnow()
    events.volume_changed(uow, v)
    for a in attachments:  # the new primary exports them; compute hosts reopen their disks
        events.attachment_changed(uow, a, v)


def service_status(host: StorageHost, hosts: int) -> str:
    """A ``cinder-volume`` service's ``replication_status``."""
    if host.active_backend_id:
        return "failed-over"
    return "enabled" if hosts > 1 else "disabled"
