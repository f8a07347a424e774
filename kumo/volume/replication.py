"""Replicated volumes: the replication status machine and failover of a backend.

A volume of a type with ``replication_enabled='<is> True'`` is placed on a
primary pool and a replica pool on another storage host (the scheduler's
``place_pair``). Its ``replication_status`` moves:

- ``enabling`` when placed (the primary's storage daemon starts mirroring);
- ``enabled`` when the primary's agent reports the mirror in step (every
  write acknowledged to a client is then on both hosts), ``error`` when it
  reports the mirror broken (the replica's host unreachable); either way
  again as the mirror recovers or breaks;
- ``failed-over`` by ``failover``: the replica became the primary;
- ``failing-back`` by ``failover`` with ``backend_id=default`` once the
  former primary's host is back: the current primary mirrors the volume
  back onto the former primary's (stale) file, re-protecting it; when its
  agent reports that mirror in step, the roles switch (the former primary
  serves the volume again, attachments follow) and the volume is
  ``enabling`` again (now mirrored the other way, to where it was
  failed over to).

Retyping a volume to or from a replication-enabled type (``start``,
``stop``) places a replica on another storage host and starts the mirror,
or drops the replica (its host removes the file) and stops it. Extending a
replicated volume grows both files: the primary's agent stops the mirror,
grows the volume, and starts the mirror again once the replica's agent has
grown the replica: the volume is ``enabling`` from the primary's growth
until its agent reports the mirror in step again.

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

from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.uow import UnitOfWork
from kumo.db.volume_models import StorageHost, Volume, VolumeAttachment
from kumo.errors import BadRequest, NotFound
from kumo.policy import authorize
from kumo.volume import common, events
from kumo.volume.scheduler import NoValidPool, Request, place
from kumo.volume.scheduler.weighers import resolve

REPORTED = ("enabled", "error")
"""What a primary's agent may report about its mirror."""
MOVABLE = ("enabling", "enabled", "error")
"""The statuses a report may move (never ``disabled`` nor ``failed-over``)."""
FAILING_BACK = "failing-back"
MIRRORED = (*MOVABLE, FAILING_BACK)
"""The statuses in which the primary's storage host mirrors the volume."""


def next_status(current: str, reported: str) -> str | None:
    """The status after a primary's report (None: the report changes nothing)."""
    if current not in MOVABLE or reported not in REPORTED or current == reported:
        return None
    return reported


def apply_report(uow: UnitOfWork, v: Volume, item: dict[str, Any]) -> bool:
    """One primary's report on a volume's mirror; True when it changed. A
    volume failing back whose mirror is in step switches roles."""
    reported = str(item.get("replication_status"))
    if v.replication_status == FAILING_BACK:
        if reported != "enabled":
            return False
        _switch_back(uow, v)
        return True
    new = next_status(v.replication_status, reported)
    if new is None:
        return False
    v.replication_status = new
    v.updated_at = utcnow()
    events.volume_changed(uow, v)
    return True


def _switch_back(uow: UnitOfWork, v: Volume) -> None:
    """The volume's former primary is in step again: it becomes the primary
    (mirroring to the host it was failed over to); once no volume of that
    host is failing back any more, its service is active again."""
    _swap(uow, v, "enabling")
    s = uow.session
    s.flush()
    host = s.get(StorageHost, str(v.storage_host))
    left = s.scalar(
        select(Volume.id)
        .where(Volume.replica_host == v.storage_host, Volume.replication_status.in_(
            ("failed-over", FAILING_BACK)))
        .limit(1)
    )  # fmt: skip
    if host is not None and left is None:
        host.active_backend_id = None
        host.disabled = False
        host.disabled_reason = None


def start(uow: UnitOfWork, settings: Settings, v: Volume, specs: dict[str, str]) -> None:
    """Replicate ``v`` (a retype to a replication-enabled type): a replica
    pool on another storage host, by the scheduler's filters and weighers;
    the mirror starts (``enabling``). 400 when no other host can hold it."""
    from kumo.volume import pools  # it imports this module

    s = uow.session
    others = [p for p in pools.states(s, settings) if p.host != v.storage_host]
    found = place(others, Request(size=v.size, extra_specs=specs),
                  resolve(settings.volume_scheduler_weighers))  # fmt: skip
    if isinstance(found, NoValidPool):
        raise BadRequest(
            "Invalid volume type: no pool of another storage host can hold the replica "
            f"({found.message(v.size)})."
        )
    pools.lock_pool(s, found.host, found.pool)
    v.replica_host, v.replica_pool = found.host, found.pool
    v.replication_status = "enabling"


def stop(uow: UnitOfWork, v: Volume) -> None:
    """Stop replicating ``v`` (a retype to a type without replication): the
    replica's host is sent the change too (the outbox folds this delete into
    the volume's last change of the transaction, sent to both topics) and
    removes the replica's file when the volume comes without it; the
    primary stops the mirror when it sees the volume without a replica."""
    if v.replica_host is not None:
        uow.emit(events.VOLUME, "delete", v.id, (events.topic(v.replica_host),),
                 events.volume_body(uow.session, v))  # fmt: skip
    v.replica_host = v.replica_pool = None
    v.replication_status = "disabled"


def _host(uow: UnitOfWork, name: str) -> StorageHost:
    host = uow.session.get(StorageHost, name.split("@", 1)[0])
    if host is None:
        raise NotFound(f"Service {name} could not be found.", kind="ServiceNotFound")
    return host


def failover(uow: UnitOfWork, settings: Settings, ctx: RequestContext, body: Any) -> list[str]:
    """Promote the replicas of the volumes whose primary is on ``host``; the
    ids of the volumes failed over. With ``backend_id`` ``default``: fail
    ``host`` back (``fail_back``)."""
    authorize(ctx, "volume:failover_host")
    if not isinstance(body, dict):
        raise BadRequest("Expected {'host': ..., 'backend_id': ...}.")
    name = common.text(body.get("host"), "host", required=True) or ""
    if body.get("cluster"):
        raise BadRequest("Failing over a cluster is not supported: give the host.")
    failed = _host(uow, name)
    backend_id = common.text(body.get("backend_id"), "backend_id")
    if backend_id == "default":
        return fail_back(uow, settings, failed)
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


def fail_back(uow: UnitOfWork, settings: Settings, failed: StorageHost) -> list[str]:
    """Start failing ``failed`` back: its host must be up again; each volume
    failed over from it is mirrored back onto it (``failing-back``) and
    switches when in step (``apply_report``). The ids of those volumes."""
    from kumo.volume import pools  # it imports this module

    if not failed.active_backend_id:
        raise BadRequest(f"Invalid input received: host {failed.host} is not failed over.")
    if not pools.is_up(settings, failed, utcnow()):
        raise BadRequest(
            f"Invalid input received: host {failed.host} is not up: its storage agent must "
            "report again before its volumes can fail back to it."
        )
    s = uow.session
    back: list[str] = []
    for v in s.scalars(
        select(Volume)
        .where(Volume.replica_host == failed.host, Volume.replication_status == "failed-over")
        .order_by(Volume.id)
        .with_for_update()
    ):
        v.replication_status = FAILING_BACK
        v.updated_at = utcnow()
        events.volume_changed(uow, v)
        back.append(v.id)
    failed.disabled_reason = f"failing back from {failed.active_backend_id}"
    if not back:  # nothing to move: active again at once
        failed.active_backend_id = None
        failed.disabled = False
        failed.disabled_reason = None
    return back


def _promote(uow: UnitOfWork, v: Volume) -> None:
    _swap(uow, v, "failed-over")


def _swap(uow: UnitOfWork, v: Volume, status: str) -> None:
    """The replica becomes the primary (and the primary the replica); the
    attachments follow: the old primary stops exporting them, the new one
    exports them and compute hosts reopen their disks from it."""
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
    v.replication_status = status
    v.updated_at = utcnow()
    events.volume_changed(uow, v)
    for a in attachments:  # the new primary exports them; compute hosts reopen their disks
        events.attachment_changed(uow, a, v)


def service_status(host: StorageHost, hosts: int) -> str:
    """A ``cinder-volume`` service's ``replication_status``."""
    if host.active_backend_id:
        return "failed-over"
    return "enabled" if hosts > 1 else "disabled"
