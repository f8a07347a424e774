"""What storage agents report: the outcome of each operation on a volume or
snapshot placed on their host.

A report moves an object only out of the status the operation put it in
(``creating``, ``extending``, ``deleting``): a late or repeated report of
something already settled changes nothing. ``deleted`` removes the row.
Agents report only for objects placed on their own host.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.uow import UnitOfWork
from kumo.db.volume_models import Snapshot, Volume, VolumeAttachment
from kumo.errors import BadRequest
from kumo.identity.agent_credentials import authorize_hosts
from kumo.volume import events, messages, replication

VOLUME_OUTCOMES: dict[str, dict[str, str | None]] = {
    "creating": {"available": "available", "error": "error"},
    "extending": {"available": "available", "error": "error_extending"},
    "deleting": {"deleted": None, "error": "error_deleting"},
}
SNAPSHOT_OUTCOMES: dict[str, dict[str, str | None]] = {
    "creating": {"available": "available", "error": "error"},
    "deleting": {"deleted": None, "error": "error_deleting"},
}


def _items(body: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = body.get(key) or []
    if not isinstance(items, list) or not all(
        isinstance(i, dict) and isinstance(i.get("id"), str) and isinstance(i.get("status"), str)
        for i in items
    ):
        raise BadRequest(f"'{key}' must be a list of {{'id': ..., 'status': ...}}.")
    return items


def _mirrors(body: dict[str, Any]) -> list[dict[str, Any]]:
    items = body.get("replication") or []
    if not isinstance(items, list) or not all(
        isinstance(i, dict)
        and isinstance(i.get("id"), str)
        and isinstance(i.get("replication_status"), str)
        for i in items
    ):
        raise BadRequest("'replication' must be a list of {'id': ..., 'replication_status': ...}.")
    return items


def apply(uow: UnitOfWork, ctx: RequestContext, body: Any) -> list[str]:
    """``{"volumes": [{"id", "status", "error"?}], "snapshots": [...],
    "replication": [{"id", "replication_status", "error"?}]}`` (a primary's
    mirror: ``kumo.volume.replication``); the ids changed."""
    if not isinstance(body, dict):
        raise BadRequest("Expected {'volumes': [...], 'snapshots': [...]}.")
    vols = _items(body, "volumes")
    snaps = _items(body, "snapshots")
    mirrors = _mirrors(body)
    s = uow.session
    wanted = [i["id"] for i in vols] + [i["id"] for i in mirrors]
    vrows = {
        v.id: v for v in s.scalars(select(Volume).where(Volume.id.in_(wanted)).with_for_update())
    }
    srows = {
        x.id: x
        for x in s.scalars(
            select(Snapshot).where(Snapshot.id.in_([i["id"] for i in snaps])).with_for_update()
        )
    }
    hosts = {v.storage_host or "" for v in vrows.values()}
    hosts |= {x.storage_host or "" for x in srows.values()}
    authorize_hosts(s, ctx, hosts, "internal:storage_report")
    changed = []
    for item in mirrors:
        mirrored = vrows.get(item["id"])
        if mirrored is not None and replication.apply_report(uow, mirrored, item):
            changed.append(mirrored.id)
    for item in snaps:
        snap = srows.get(item["id"])
        if snap is None or snap.held:  # reset by an admin: no operation to report on
            continue
        outcome: dict[str, str | None] = SNAPSHOT_OUTCOMES.get(snap.status, {})
        if item["status"] not in outcome:
            continue
        new = outcome[item["status"]]
        if new is None:
            events.snapshot_changed(uow, snap, deleted=True)
            s.delete(snap)
        else:
            snap.status = new
            snap.updated_at = utcnow()
            events.snapshot_changed(uow, snap)
            if new.startswith("error"):
                _message(uow, snap.project_id, "SNAPSHOT", snap.id, item)
        changed.append(snap.id)
    s.flush()
    for item in vols:
        v = vrows.get(item["id"])
        if v is None or v.held:  # reset by an admin: no operation to report on
            continue
        outcome = VOLUME_OUTCOMES.get(v.status, {})
        if item["status"] not in outcome:
            continue
        new = outcome[item["status"]]
        if new is None:
            events.volume_changed(uow, v, deleted=True)
            for a in s.scalars(select(VolumeAttachment).where(VolumeAttachment.volume_id == v.id)):
                s.delete(a)
            s.delete(v)
        else:
            task = dict(v.task or {})
            if v.status == "extending" and new == "available":
                v.size = int(task.get("size", v.size))
                if v.replica_host is not None and v.replication_status in ("enabled", "error"):
                    # the primary stopped the mirror to grow the volume; it is in
                    # step again only once the replica has grown and the mirror
                    # caught up, which the primary's agent reports
                    v.replication_status = "enabling"
            if v.status == "extending":
                back = task.get("previous_status", "available")
                new = back if new == "available" else new
            made = v.status == "creating"
            v.status = new
            v.task = {}
            v.updated_at = utcnow()
            events.volume_changed(uow, v)
            if made:
                from kumo.compute import block_devices

                block_devices.volume_made(uow, v)
            if new.startswith("error"):
                _message(uow, v.project_id, "VOLUME", v.id, item)
        changed.append(v.id)
    return changed


def _message(uow: UnitOfWork, project: str, kind: str, ident: str, item: dict[str, Any]) -> None:
    text = item.get("error")
    if isinstance(text, str) and text:
        messages.record(uow, project, kind, ident, f"{kind}_STORAGE_001", text[:1000])
