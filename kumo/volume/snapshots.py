"""Volume snapshots: a copy of a volume's data at one moment, kept in the
volume's pool. ``creating`` until the storage agent has made it,
``deleting`` until it has removed it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.compute.microversion import Version, parse
from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.uow import UnitOfWork
from kumo.db.volume_models import Snapshot, Volume, VolumeType
from kumo.errors import BadRequest, NotFound
from kumo.policy import allowed, authorize, unrestricted
from kumo.volume import common, events, metadata, quotas, volumes
from kumo.volume.common import InvalidState

STATUSES = ("creating", "available", "deleting", "error", "error_deleting", "backing-up",
            "restoring", "unmanaging")  # fmt: skip
SORT_KEYS = ("created_at", "updated_at", "id", "name", "size", "status", "volume_id")
V_GROUP_SNAPSHOT = parse("3.14")
V_USER_ID = parse("3.41")
V_CONSUMES_QUOTA = parse("3.65")
V_NO_FORCE = parse("3.66")
UPDATABLE = {
    "creating": ("creating", "available", "error"),
    "deleting": ("deleting", "error_deleting"),
}
"""What ``os-update_snapshot_status`` may set, by the snapshot's status."""


def not_found(snapshot_id: str) -> NotFound:
    return NotFound(f"Snapshot {snapshot_id} could not be found.", kind="SnapshotNotFound")


def load(
    session: Session, ctx: RequestContext, snapshot_id: str, *, lock: bool = False
) -> Snapshot:
    query = select(Snapshot).where(Snapshot.id == snapshot_id)
    if lock:
        query = query.with_for_update()
    snap = session.scalar(query)
    if snap is None or not allowed(ctx, "volume:get_snapshot", {"project_id": snap.project_id}):
        raise not_found(snapshot_id)
    return snap


def view(snap: Snapshot, version: Version, *, detail: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": snap.id,
        "name": snap.name,
        "description": snap.description,
        "volume_id": snap.volume_id,
        "status": snap.status,
        "size": snap.size,
        "created_at": common.stamp(snap.created_at),
        "updated_at": common.stamp(snap.updated_at),
        "metadata": dict(snap.meta or {}),
    }
    if detail:
        out["os-extended-snapshot-attributes:project_id"] = snap.project_id
        out["os-extended-snapshot-attributes:progress"] = snap.progress or (
            "100%" if snap.status == "available" else "0%"
        )
    if version >= V_GROUP_SNAPSHOT:
        out["group_snapshot_id"] = snap.group_snapshot_id
    if version >= V_USER_ID:
        out["user_id"] = snap.user_id
    if version >= V_CONSUMES_QUOTA:
        out["consumes_quota"] = True
    return out


def listing(
    session: Session, ctx: RequestContext, params: dict[str, str]
) -> tuple[list[Snapshot], bool, int]:
    query = select(Snapshot)
    every = params.get("all_tenants", "").lower() in ("1", "true", "yes")
    if not (every and unrestricted(ctx, "volume:get_all_snapshots")):
        query = query.where(Snapshot.project_id == (ctx.project_id or ""))
    elif params.get("project_id"):
        query = query.where(Snapshot.project_id == params["project_id"])
    for key in ("status", "volume_id", "name", "group_snapshot_id"):
        if params.get(key):
            query = query.where(getattr(Snapshot, key) == params[key])
    rows = list(session.scalars(query))
    if params.get("metadata"):
        want = common.metadata_filter(params["metadata"])
        rows = [x for x in rows if all((x.meta or {}).get(k) == v for k, v in want.items())]
    rows = [x for x in rows if allowed(ctx, "volume:get_snapshot", {"project_id": x.project_id})]
    items, more = common.page(
        rows, params, lambda x, k: getattr(x, k, None), lambda x: x.id, SORT_KEYS
    )
    return items, more, len(rows)


def make(
    uow: UnitOfWork,
    settings: Settings,
    ctx: RequestContext,
    v: Volume,
    *,
    name: str | None,
    description: str | None,
    meta: dict[str, str],
    group_snapshot_id: str | None = None,
    publish: bool = True,
) -> Snapshot:
    """A snapshot of ``v`` (quota checked), handed to the volume's agent
    (``publish``; a group snapshot publishes its members once all are made)."""
    s = uow.session
    vtype = s.get(VolumeType, v.volume_type_id)
    quotas.check(
        s,
        settings,
        v.project_id,
        vtype.name if vtype else "",
        {"snapshots": 1, "gigabytes": v.size},
    )
    snap = Snapshot(
        name=name,
        description=description,
        project_id=v.project_id,
        user_id=ctx.user_id,
        volume_id=v.id,
        volume_type_id=v.volume_type_id,
        size=v.size,
        status="creating",
        storage_host=v.storage_host,
        pool=v.pool,
        group_snapshot_id=group_snapshot_id,
        meta=meta,
    )
    s.add(snap)
    s.flush()
    if publish:
        events.snapshot_changed(uow, snap)
    return snap


def create(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, body: Any, version: Version
) -> Snapshot:
    data = common.body_of(body, "snapshot")
    if not data.get("volume_id"):  # Cinder looks the volume up, and finds none
        raise volumes.not_found(str(data.get("volume_id")))
    s = uow.session
    v = volumes.load(s, ctx, str(data["volume_id"]), lock=True)
    authorize(ctx, "volume:create_snapshot", volumes.target(v))
    force = common.boolean(data.get("force", False), "force")
    if v.status == "in-use":
        if not (force or version >= V_NO_FORCE):
            raise InvalidState(
                "Invalid volume: Volume is in-use; pass force to snapshot it while attached."
            )
    elif v.status != "available":
        raise InvalidState(
            f"Invalid volume: Volume {v.id} status must be available or in-use, but current "
            f"status is: {v.status}."
        )
    if v.storage_host is None:
        raise InvalidState(f"Invalid volume: Volume {v.id} has no storage.")
    return make(
        uow, settings, ctx, v,
        name=common.text(data.get("name", data.get("display_name")), "name"),
        description=common.text(data.get("description", data.get("display_description")),
                                "description"),
        meta=common.metadata(data.get("metadata")),
    )  # fmt: skip


def update(uow: UnitOfWork, ctx: RequestContext, snapshot_id: str, body: Any) -> Snapshot:
    data = common.body_of(body, "snapshot")
    snap = load(uow.session, ctx, snapshot_id, lock=True)
    authorize(ctx, "volume:update_snapshot", {"project_id": snap.project_id})
    if "name" in data or "display_name" in data:
        snap.name = common.text(data.get("name", data.get("display_name")), "name")
    if "description" in data or "display_description" in data:
        snap.description = common.text(
            data.get("description", data.get("display_description")), "description"
        )
    if "metadata" in data:
        snap.meta = common.metadata(data["metadata"])
    snap.updated_at = utcnow()
    return snap


def start_delete(uow: UnitOfWork, snap: Snapshot) -> None:
    if snap.storage_host is None:
        uow.session.delete(snap)
        return
    snap.status = "deleting"
    snap.held = False
    snap.updated_at = utcnow()
    events.snapshot_changed(uow, snap)


def remove(uow: UnitOfWork, ctx: RequestContext, snapshot_id: str) -> None:
    s = uow.session
    snap = load(s, ctx, snapshot_id, lock=True)
    authorize(ctx, "volume:delete_snapshot", {"project_id": snap.project_id})
    if snap.status not in ("available", "error", "error_deleting"):
        raise InvalidState(
            f"Invalid snapshot: Snapshot status must be available or error (it is {snap.status}).",
            kind="InvalidSnapshot",
        )
    if snap.group_snapshot_id:
        raise InvalidState(
            f"Invalid snapshot: Snapshot {snap.id} belongs to group snapshot "
            f"{snap.group_snapshot_id}; delete the group snapshot.",
            kind="InvalidSnapshot",
        )
    start_delete(uow, snap)


def reset_status(uow: UnitOfWork, ctx: RequestContext, snapshot_id: str, data: Any) -> None:
    snap = load(uow.session, ctx, snapshot_id, lock=True)
    authorize(ctx, "volume_extension:snapshot_admin_actions:reset_status",
              {"project_id": snap.project_id})  # fmt: skip
    if not isinstance(data, dict) or data.get("status") not in STATUSES:
        raise BadRequest("Must specify a valid status.")
    snap.status = data["status"]
    snap.held = True  # the storage agent does not act on a status an admin set
    snap.updated_at = utcnow()
    events.snapshot_changed(uow, snap)


def update_status(uow: UnitOfWork, ctx: RequestContext, snapshot_id: str, data: Any) -> None:
    """``os-update_snapshot_status``: whoever makes a snapshot outside the
    storage agent (Nova's assisted snapshots) reports how it went."""
    snap = load(uow.session, ctx, snapshot_id, lock=True)
    authorize(ctx, "snapshot_extension:snapshot_actions:update_snapshot_status",
              {"project_id": snap.project_id})  # fmt: skip
    if not isinstance(data, dict) or not isinstance(data.get("status"), str):
        raise BadRequest("'status' must be specified.")
    wanted = data["status"]
    if wanted not in UPDATABLE.get(snap.status, ()):
        raise BadRequest(f"Snapshot status {snap.status} not allowed to update to {wanted}.")
    progress = data.get("progress")
    if progress is not None:
        snap.progress = common.text(progress, "progress")
    snap.status = wanted
    snap.updated_at = utcnow()
    events.snapshot_changed(uow, snap)


def force_delete(uow: UnitOfWork, ctx: RequestContext, snapshot_id: str) -> None:
    """``os-force_delete``: delete whatever the snapshot's status."""
    snap = load(uow.session, ctx, snapshot_id, lock=True)
    authorize(ctx, "volume_extension:snapshot_admin_actions:force_delete",
              {"project_id": snap.project_id})  # fmt: skip
    start_delete(uow, snap)


def metadata_of(session: Session, ctx: RequestContext, snapshot_id: str) -> dict[str, str]:
    snap = load(session, ctx, snapshot_id)
    authorize(ctx, "volume:get_snapshot_metadata", {"project_id": snap.project_id})
    return dict(snap.meta or {})


def set_metadata(
    uow: UnitOfWork, ctx: RequestContext, snapshot_id: str, body: Any, *, replace: bool
) -> dict[str, str]:
    snap = load(uow.session, ctx, snapshot_id, lock=True)
    authorize(ctx, "volume:update_snapshot_metadata", {"project_id": snap.project_id})
    snap.meta = metadata.merged(snap.meta, body, replace=replace)
    snap.updated_at = utcnow()
    return dict(snap.meta)


def set_metadata_item(
    uow: UnitOfWork, ctx: RequestContext, snapshot_id: str, key: str, body: Any
) -> dict[str, str]:
    snap = load(uow.session, ctx, snapshot_id, lock=True)
    authorize(ctx, "volume:update_snapshot_metadata", {"project_id": snap.project_id})
    snap.meta = metadata.with_item(snap.meta, key, body)
    snap.updated_at = utcnow()
    return {key: snap.meta[key]}


def delete_metadata(uow: UnitOfWork, ctx: RequestContext, snapshot_id: str, key: str) -> None:
    snap = load(uow.session, ctx, snapshot_id, lock=True)
    authorize(ctx, "volume:delete_snapshot_metadata", {"project_id": snap.project_id})
    snap.meta = metadata.without(snap.meta, key)
    snap.updated_at = utcnow()
