"""Volumes: create (blank, from a snapshot, from another volume), list and
show, update, extend, retype, delete, and the administrative actions.

Status machine (what the API and the storage agent move a volume through)::

    creating ──agent──▶ available ◀──────────────┐
        │ no pool / agent fails                   │
        ▼                                         │
      error          available ─os-extend─▶ extending ─agent─▶ available
                                                  └─fails─▶ error_extending
    available ─attachment─▶ reserved ─connector─▶ attaching ─complete─▶ in-use
    in-use ─os-begin_detaching─▶ detaching ─detach─▶ available
    available|in-use ─os-volume_upload_image─▶ uploading ─agent─▶ available|in-use
    available|error|error_extending ─delete─▶ deleting ─agent─▶ (gone)
                                                   └─fails─▶ error_deleting

``os-reset_status`` (admins) sets any status. A volume the scheduler could
not place is ``error`` at once, with a user message saying why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.compute.microversion import Version, parse
from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.uow import UnitOfWork
from kumo.db.volume_models import (
    Snapshot,
    StorageHost,
    Volume,
    VolumeAttachment,
    VolumeEncryptionType,
    VolumeGroup,
    VolumeType,
)
from kumo.errors import BadRequest, NotFound
from kumo.policy import allowed, authorize, unrestricted
from kumo.volume import (
    common,
    events,
    images,
    messages,
    metadata,
    pools,
    quotas,
    replication,
    types,
)
from kumo.volume.common import InvalidState
from kumo.volume.scheduler import (
    NoValidPool,
    PairPlacement,
    Request,
    place,
    place_pair,
    wants_replication,
)
from kumo.volume.scheduler.filters import capabilities as capabilities_filter
from kumo.volume.scheduler.weighers import resolve

STATUSES = (
    "creating", "available", "reserved", "attaching", "in-use", "detaching", "deleting",
    "error", "error_deleting", "error_extending", "extending", "maintenance", "retyping",
    "downloading", "uploading", "backing-up", "restoring-backup", "error_restoring",
    "error_managing", "awaiting-transfer", "error_attaching",
)  # fmt: skip
DELETABLE = ("available", "error", "error_restoring", "error_extending", "error_managing")
SORT_KEYS = ("created_at", "updated_at", "id", "name", "size", "status", "availability_zone",
             "bootable", "project_id")  # fmt: skip
V_GROUP = parse("3.13")
V_PROVIDER = parse("3.21")
V_SERVICE_UUID = parse("3.48")
V_CLUSTER = parse("3.61")
V_TYPE_ID = parse("3.63")
V_ENCRYPTION_KEY = parse("3.64")
V_CONSUMES_QUOTA = parse("3.65")
V_EXTEND_IN_USE = parse("3.42")


def not_found(volume_id: str) -> NotFound:
    return NotFound(f"Volume {volume_id} could not be found.", kind="VolumeNotFound")


def target(v: Volume) -> dict[str, Any]:
    return {"project_id": v.project_id}


def load(session: Session, ctx: RequestContext, volume_id: str, *, lock: bool = False) -> Volume:
    """The volume if the caller may see it (``volume:get``); not found otherwise."""
    query = select(Volume).where(Volume.id == volume_id)
    if lock:
        query = query.with_for_update()
    v = session.scalar(query)
    if v is None or not allowed(ctx, "volume:get", target(v)):
        raise not_found(volume_id)
    return v


def require(ctx: RequestContext, rule: str, v: Volume) -> None:
    authorize(ctx, rule, target(v))


@dataclass(frozen=True)
class Lookups:
    """What views need besides the volume rows (read once per request)."""

    type_names: dict[str, str]
    attachments: dict[str, list[VolumeAttachment]]
    backends: dict[str, str]
    encrypted: frozenset[str] = frozenset()
    """The ids of the volume types that have an encryption type."""

    @classmethod
    def read(cls, session: Session, volume_ids: list[str]) -> Lookups:
        names = {i: n for i, n in session.execute(select(VolumeType.id, VolumeType.name))}
        found: dict[str, list[VolumeAttachment]] = {}
        if volume_ids:
            for a in session.scalars(
                select(VolumeAttachment)
                .where(VolumeAttachment.volume_id.in_(volume_ids))
                .order_by(VolumeAttachment.created_at)
            ):
                found.setdefault(a.volume_id, []).append(a)
        backends = {h: b for h, b in session.execute(select(StorageHost.host, StorageHost.backend))}
        encrypted = frozenset(session.scalars(select(VolumeEncryptionType.volume_type_id)))
        return cls(names, found, backends, encrypted)


def shown_metadata(v: Volume) -> dict[str, str]:
    """The user's metadata, with ``readonly`` once the flag was set (as Cinder shows it)."""
    out = dict(v.meta or {})
    if v.readonly is not None:
        out["readonly"] = str(v.readonly)
    return out


def links(base: str, kind: str, ident: str) -> list[dict[str, str]]:
    return [
        {"rel": "self", "href": f"{base}/v3/{kind}/{ident}"},
        {"rel": "bookmark", "href": f"{base}/{kind}/{ident}"},
    ]


def attachment_brief(a: VolumeAttachment) -> dict[str, Any]:
    return {
        "id": a.volume_id,
        "attachment_id": a.id,
        "volume_id": a.volume_id,
        "server_id": a.instance_uuid,
        "host_name": a.attached_host,
        "device": a.mountpoint,
        "attached_at": common.stamp(a.attached_at),
    }


def view(
    v: Volume,
    ctx: RequestContext,
    look: Lookups,
    base: str,
    version: Version,
    *,
    detail: bool = True,
) -> dict[str, Any]:
    if not detail:
        return {"id": v.id, "name": v.name, "links": links(base, "volumes", v.id)}
    attached = [
        attachment_brief(a) for a in look.attachments.get(v.id, []) if a.attach_status == "attached"
    ]
    out: dict[str, Any] = {
        "id": v.id,
        "name": v.name,
        "description": v.description,
        "status": v.status,
        "size": v.size,
        "availability_zone": v.availability_zone,
        "created_at": common.stamp(v.created_at),
        "updated_at": common.stamp(v.updated_at),
        "attachments": attached,
        "bootable": "true" if v.bootable else "false",
        "encrypted": v.volume_type_id in look.encrypted,
        "metadata": shown_metadata(v),
        "multiattach": v.multiattach,
        "os-vol-tenant-attr:tenant_id": v.project_id,
        "os-vol-mig-status-attr:migstat": None,
        "os-vol-mig-status-attr:name_id": None,
        "replication_status": v.replication_status,
        "consistencygroup_id": None,
        "snapshot_id": v.snapshot_id,
        "source_volid": v.source_volid,
        "user_id": v.user_id,
        "volume_type": look.type_names.get(v.volume_type_id, v.volume_type_id),
        "links": links(base, "volumes", v.id),
    }
    if allowed(ctx, "volume_extension:volume_mig_status_attribute"):
        out["migration_status"] = None  # volumes are never migrated between pools here
    if allowed(ctx, "volume_extension:volume_host_attribute"):
        backend = look.backends.get(v.storage_host or "", "file")
        out["os-vol-host-attr:host"] = (
            f"{v.storage_host}@{backend}#{v.pool}" if v.storage_host else None
        )
    if v.image_metadata:
        out["volume_image_metadata"] = dict(v.image_metadata)
    if version >= V_GROUP:
        out["group_id"] = v.group_id
    if version >= V_PROVIDER:
        out["provider_id"] = None
    if version >= V_SERVICE_UUID:
        out["service_uuid"] = None
        out["shared_targets"] = False
    if version >= V_CLUSTER:
        out["cluster_name"] = None
    if version >= V_TYPE_ID:
        out["volume_type_id"] = v.volume_type_id
    if version >= V_ENCRYPTION_KEY:
        out["encryption_key_id"] = None
    if version >= V_CONSUMES_QUOTA:
        out["consumes_quota"] = True
    return out


# -- listing ----------------------------------------------------------------------------


def listing(
    session: Session, ctx: RequestContext, params: dict[str, str]
) -> tuple[list[Volume], bool, int]:
    """(one page of volumes, whether more follow, how many match in all)."""
    rows = matching(session, ctx, params)
    total = len(rows)
    items, more = common.page(
        rows, params, lambda v, k: getattr(v, k, None), lambda v: v.id, SORT_KEYS
    )
    return items, more, total


def summary(
    session: Session, ctx: RequestContext, params: dict[str, str], version: Version
) -> dict[str, Any]:
    """``GET /volumes/summary`` (3.12): count and GiB of the volumes a listing with
    the same filters would show; from 3.36 every metadata key with its values."""
    rows = matching(session, ctx, params)
    out: dict[str, Any] = {"total_size": sum(v.size for v in rows), "total_count": len(rows)}
    if version.at_least("3.36"):
        meta: dict[str, list[str]] = {}
        for v in rows:
            for key, value in (v.meta or {}).items():
                if value not in meta.setdefault(key, []):
                    meta[key].append(value)
        out["metadata"] = meta
    return out


def matching(session: Session, ctx: RequestContext, params: dict[str, str]) -> list[Volume]:
    """Every volume the caller may see that the listing filters in ``params`` keep."""
    query = select(Volume)
    every = params.get("all_tenants", "").lower() in ("1", "true", "yes")
    if every and not unrestricted(ctx, "volume:get_all_tenants"):
        every = False  # Cinder ignores all_tenants for non-admins
    if every:
        if params.get("project_id"):
            query = query.where(Volume.project_id == params["project_id"])
    else:
        query = query.where(Volume.project_id == (ctx.project_id or ""))
    for key in ("status", "availability_zone", "group_id", "snapshot_id", "source_volid"):
        if params.get(key):
            query = query.where(getattr(Volume, key) == params[key])
    if params.get("name"):
        query = query.where(Volume.name == params["name"])
    if params.get("bootable"):
        query = query.where(Volume.bootable == common.boolean(params["bootable"], "bootable"))
    rows = list(session.scalars(query))
    if params.get("volume_type"):
        wanted = params["volume_type"]
        names = {i: n for i, n in session.execute(select(VolumeType.id, VolumeType.name))}
        rows = [v for v in rows if wanted in (v.volume_type_id, names.get(v.volume_type_id))]
    if params.get("metadata"):
        want = common.metadata_filter(params["metadata"])
        rows = [v for v in rows if all((v.meta or {}).get(k) == x for k, x in want.items())]
    return [v for v in rows if allowed(ctx, "volume:get", target(v))]


# -- create -----------------------------------------------------------------------------


def _source(
    session: Session, ctx: RequestContext, data: dict[str, Any]
) -> tuple[Snapshot | None, Volume | None]:
    snapshot = source = None
    if data.get("snapshot_id") is not None:
        from kumo.volume import snapshots

        snapshot = snapshots.load(session, ctx, str(data["snapshot_id"]))
        if snapshot.status != "available":
            raise InvalidState(
                f"Invalid snapshot: Originating snapshot status must be one of 'available' "
                f"values (it is {snapshot.status}).",
                kind="InvalidSnapshot",
            )
    if data.get("source_volid") is not None:
        if snapshot is not None:
            raise BadRequest("Give snapshot_id or source_volid, not both.")
        source = load(session, ctx, str(data["source_volid"]))
        if source.status != "available":
            raise InvalidState(
                f"Invalid volume: Source volume status must be available (it is {source.status})."
            )
    return snapshot, source


def _origin(session: Session, snapshot: Snapshot | None, source: Volume | None) -> Volume | None:
    """The volume whose data a new volume starts from (the source, or the
    snapshot's volume): its bootable flag and image metadata go along."""
    if source is not None:
        return source
    return session.get(Volume, snapshot.volume_id) if snapshot is not None else None


def _group(session: Session, ctx: RequestContext, group_id: Any, vtype: VolumeType) -> VolumeGroup:
    group = session.get(VolumeGroup, str(group_id))
    if group is None or not allowed(ctx, "group:get", {"project_id": group.project_id}):
        raise NotFound(f"Group {group_id} could not be found.", kind="GroupNotFound")
    if group.status != "available":
        raise InvalidState(f"Invalid group: group {group.id} is {group.status}, not available.")
    if vtype.id not in (group.volume_type_ids or []):
        raise BadRequest(f"Invalid volume type {vtype.name}: group {group.id} does not support it.")
    return group


def create(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, body: Any, version: Version
) -> Volume:
    authorize(ctx, "volume:create", {"project_id": ctx.project_id})
    data = common.body_of(body, "volume")
    s = uow.session
    if data.get("backup_id"):
        raise BadRequest("Volume backups are not supported by this cloud.")
    snapshot, source = _source(s, ctx, data)
    image_ref = data.get("imageRef") or data.get("image_id")
    image = None
    if image_ref:
        if snapshot is not None or source is not None:
            raise BadRequest("Give one of imageRef, snapshot_id and source_volid.")
        image = images.load(s, ctx, image_ref)
    origin = snapshot.size if snapshot else source.size if source else None
    if image is not None and data.get("size") is None:
        origin = images.min_size(image)
    raw_size = data.get("size")
    if raw_size is None and origin is None:
        raise BadRequest("Invalid input for field/attribute size: a size is required.")
    size = common.size(raw_size) if raw_size is not None else origin
    assert size is not None
    if origin is not None and size < origin:
        raise BadRequest(
            f"Invalid input received: Volume size '{size}'GB cannot be smaller than the "
            f"{'snapshot' if snapshot else 'original volume'} size {origin}GB. "
            "They must be >= original size."
        )
    if image is not None:
        images.check_size(image, size)
    type_ref = data.get("volume_type")
    if type_ref is None and snapshot is not None:
        type_ref = snapshot.volume_type_id
    if type_ref is None and source is not None:
        type_ref = source.volume_type_id
    vtype = types.usable(s, ctx, None if type_ref is None else str(type_ref))
    group = _group(s, ctx, data["group_id"], vtype) if data.get("group_id") else None
    zone = common.text(data.get("availability_zone"), "availability_zone")
    if group is not None and zone is None:
        zone = group.availability_zone
    project = ctx.project_id or ""
    origin_volume = _origin(s, snapshot, source)
    quotas.check_size(s, settings, project, size)
    quotas.check(s, settings, project, vtype.name, {"volumes": 1, "gigabytes": size})
    v = Volume(
        name=common.text(data.get("name", data.get("display_name")), "name"),
        description=common.text(
            data.get("description", data.get("display_description")), "description"
        ),
        project_id=project,
        user_id=ctx.user_id,
        size=size,
        volume_type_id=vtype.id,
        snapshot_id=snapshot.id if snapshot else None,
        source_volid=source.id if source else None,
        group_id=group.id if group else None,
        meta=common.metadata(data.get("metadata")),
        multiattach=common.boolean(data.get("multiattach", False), "multiattach"),
        availability_zone=zone or settings.default_availability_zone,
        bootable=image is not None or bool(origin_volume and origin_volume.bootable),
        image_metadata=(
            images.metadata(image)
            if image is not None
            else dict(origin_volume.image_metadata or {})
            if origin_volume is not None
            else {}
        ),
    )
    if v.multiattach:
        raise BadRequest("Multiattach volumes are not supported by the file backend.")
    s.add(v)
    s.flush()
    lay = snapshot if snapshot is not None else source
    in_pool = (lay.storage_host, str(lay.pool)) if lay is not None and lay.storage_host else None
    _schedule(uow, settings, v, vtype, zone, in_pool, group_host(s, group))
    if snapshot is not None:
        v.task = {"op": "create", "source": {"kind": "snapshot", "id": snapshot.id}}
    elif source is not None:
        v.task = {"op": "create", "source": {"kind": "volume", "id": source.id}}
    elif image is not None:
        v.task = {"op": "create", "source": images.task_source(image)}
    else:
        v.task = {"op": "create"}
    events.volume_changed(uow, v)
    return v


def group_host(session: Session, group: VolumeGroup | None) -> str | None:
    """The storage host of the group's placed volumes (None: none placed yet)."""
    if group is None:
        return None
    return session.scalar(
        select(Volume.storage_host)
        .where(Volume.group_id == group.id, Volume.storage_host.is_not(None))
        .limit(1)
    )


def _schedule(
    uow: UnitOfWork,
    settings: Settings,
    v: Volume,
    vtype: VolumeType,
    zone: str | None,
    in_pool: tuple[str, str] | None,
    in_host: str | None = None,
) -> None:
    s = uow.session
    request = Request(
        size=v.size, zone=zone, extra_specs=dict(vtype.extra_specs or {}), pool=in_pool,
        host=in_host,
    )  # fmt: skip
    weighers = resolve(settings.volume_scheduler_weighers)
    states = pools.states(s, settings)
    pair = None
    if wants_replication(request.extra_specs):
        pair = place_pair(states, request, weighers)
        found = pair.primary if isinstance(pair, PairPlacement) else pair
    else:
        found = place(states, request, weighers)
    if isinstance(found, NoValidPool):
        v.status = "error"
        messages.record(
            uow, v.project_id, "VOLUME", v.id, messages.SCHEDULE_ALLOCATE_VOLUME,
            found.message(v.size),
        )  # fmt: skip
        return
    pools.lock_pool(s, found.host, found.pool)
    v.storage_host = found.host
    v.pool = found.pool
    v.status, v.held = "creating", False
    if isinstance(pair, PairPlacement):
        pools.lock_pool(s, pair.replica.host, pair.replica.pool)
        v.replica_host = pair.replica.host
        v.replica_pool = pair.replica.pool
        v.replication_status = "enabling"
    if zone is None:
        host_zone = next((p.zone for p in pools.states(s, settings) if p.host == found.host), None)
        if host_zone:
            v.availability_zone = host_zone


# -- update, delete ---------------------------------------------------------------------


def update(uow: UnitOfWork, ctx: RequestContext, volume_id: str, body: Any) -> Volume:
    data = common.body_of(body, "volume")
    v = load(uow.session, ctx, volume_id, lock=True)
    require(ctx, "volume:update", v)
    if "name" in data or "display_name" in data:
        v.name = common.text(data.get("name", data.get("display_name")), "name")
    if "description" in data or "display_description" in data:
        v.description = common.text(
            data.get("description", data.get("display_description")), "description"
        )
    if "metadata" in data:
        v.meta = common.metadata(data["metadata"])
    v.updated_at = utcnow()
    return v


def remove(
    uow: UnitOfWork,
    ctx: RequestContext,
    volume_id: str,
    *,
    cascade: bool = False,
    force: bool = False,
) -> None:
    s = uow.session
    v = load(s, ctx, volume_id, lock=True)
    require(ctx, "volume:delete", v)
    if force:
        require(ctx, "volume_extension:volume_admin_actions:force_delete", v)
    elif v.status not in DELETABLE:
        raise InvalidState(
            "Invalid volume: Volume status must be available or error or error_restoring or "
            "error_extending or error_managing and must not be migrating, attached, belong to "
            f"a group, have snapshots or be disassociated from snapshots after volume transfer "
            f"(it is {v.status})."
        )
    if (v.attach_status == "attached" or _has_attachments(s, v.id)) and not force:
        raise InvalidState("Invalid volume: Volume is attached; detach it first.")
    if v.group_id and not force:
        raise InvalidState(
            f"Invalid volume: Volume {v.id} belongs to group {v.group_id}; remove it from the "
            "group or delete the group first."
        )
    snaps = list(s.scalars(select(Snapshot).where(Snapshot.volume_id == v.id)))
    if snaps and not cascade:
        raise InvalidState(
            f"Invalid volume: Volume {v.id} still has {len(snaps)} dependent snapshots."
        )
    if any(x.status not in ("available", "error", "deleting", "error_deleting") for x in snaps):
        raise InvalidState("Invalid volume: Volume has snapshots that are busy.")
    for snap in snaps:
        from kumo.volume import snapshots

        snapshots.start_delete(uow, snap)
    start_delete(uow, v)


def _has_attachments(session: Session, volume_id: str) -> bool:
    return (
        session.scalar(
            select(VolumeAttachment.id).where(VolumeAttachment.volume_id == volume_id).limit(1)
        )
        is not None
    )


def start_delete(uow: UnitOfWork, v: Volume) -> None:
    """Hand the volume's file to its agent to remove; one never placed goes at once."""
    if v.storage_host is None:
        s = uow.session
        for a in s.scalars(select(VolumeAttachment).where(VolumeAttachment.volume_id == v.id)):
            s.delete(a)
        s.delete(v)
        return
    v.status, v.held = "deleting", False
    v.task = {"op": "delete"}
    v.updated_at = utcnow()
    events.volume_changed(uow, v)


# -- actions ----------------------------------------------------------------------------


def extend(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, v: Volume, data: Any, version: Version
) -> None:
    require(ctx, "volume:extend", v)
    if not isinstance(data, dict) or "new_size" not in data:
        raise BadRequest("Missing required element 'new_size' in os-extend.")
    new_size = common.size(data["new_size"], "new_size")
    if v.status == "in-use":
        if version < V_EXTEND_IN_USE:
            raise InvalidState(
                "Invalid volume: extending an in-use volume needs microversion 3.42 or later."
            )
        require(ctx, "volume:extend_attached_volume", v)
    elif v.status != "available":
        raise InvalidState(
            f"Invalid volume: Volume status must be 'available' or 'in-use' to extend, "
            f"currently {v.status}."
        )
    if v.replica_host is not None and v.replication_status not in ("enabled", "enabling",
                                                                   "error"):  # fmt: skip
        raise InvalidState(
            f"Invalid volume: a replicated volume is extended while replicated (its "
            f"replication_status is {v.replication_status}): both files grow."
        )
    if v.replica_host is not None and v.status != "available":
        raise InvalidState(
            "Invalid volume: a replicated volume is extended detached (its storage daemon "
            "cannot grow a disk it exports)."
        )
    if new_size <= v.size:
        raise BadRequest(
            f"Invalid input received: New size for extend must be greater than current size. "
            f"(current: {v.size}, extended: {new_size})."
        )
    s = uow.session
    vtype = s.get(VolumeType, v.volume_type_id)
    type_name = vtype.name if vtype else ""
    quotas.check_size(s, settings, v.project_id, new_size)
    quotas.check(s, settings, v.project_id, type_name, {"gigabytes": new_size - v.size})
    if v.storage_host is not None:
        pool = pools.state_of(s, settings, v.storage_host, v.pool)
        if pool is not None:
            from kumo.volume.scheduler.filters import capacity

            why = capacity(pool, Request(size=new_size - v.size))
            if why is not None:
                raise InvalidState(f"Invalid volume: its pool cannot grow it: {why}.")
        replica = (
            pools.state_of(s, settings, v.replica_host, v.replica_pool) if v.replica_host else None
        )
        if replica is not None:
            why = capacity(replica, Request(size=new_size - v.size))
            if why is not None:
                raise InvalidState(f"Invalid volume: its replica's pool cannot grow it: {why}.")
    v.task = {"op": "extend", "size": new_size, "previous_status": v.status}
    v.status, v.held = "extending", False
    v.updated_at = utcnow()
    events.volume_changed(uow, v)


def retype(uow: UnitOfWork, settings: Settings, ctx: RequestContext, v: Volume, data: Any) -> None:
    """Same pool only: the new type's extra specs must match the pool the
    volume lies in (a change of pool needs migration, which this backend
    does not do). To or from a replication-enabled type, the replica is
    placed or dropped (``replication.start``, ``stop``)."""
    require(ctx, "volume:retype", v)
    if not isinstance(data, dict) or data.get("new_type") is None:
        raise BadRequest("Missing required element 'new_type' in os-retype.")
    policy = data.get("migration_policy", "never")
    if policy not in ("never", "on-demand"):
        raise BadRequest("migration_policy must be 'never' or 'on-demand'.")
    if v.status not in ("available", "in-use"):
        raise InvalidState(
            f"Invalid volume: Volume status must be available or in-use, but current status "
            f"is: {v.status}."
        )
    s = uow.session
    new = types.find(s, ctx, str(data["new_type"]))
    if new.id == v.volume_type_id:
        raise BadRequest(f"Invalid volume type: Retype requires a different type ({new.name}).")
    replicate = wants_replication(dict(new.extra_specs or {}))
    if replicate and v.replica_host is None and v.storage_host is None:
        raise BadRequest(f"Invalid volume type: volume {v.id} is on no storage host to replicate.")
    if v.storage_host is not None:
        pool = pools.state_of(s, settings, v.storage_host, v.pool)
        why = (
            "its pool no longer reports"
            if pool is None
            else capabilities_filter(
                pool, Request(size=v.size, extra_specs=dict(new.extra_specs or {}))
            )
        )
        if why is not None:
            raise BadRequest(
                f"Invalid volume type: the volume cannot be retyped to {new.name} in place "
                f"({why}) and this backend does not migrate volumes."
            )
    snaps = list(s.scalars(select(Snapshot).where(Snapshot.volume_id == v.id)))
    _check_type_quota(s, settings, v, new, snaps)
    if replicate and v.replica_host is None:
        replication.start(uow, settings, v, dict(new.extra_specs or {}))
    elif not replicate and v.replica_host is not None:
        replication.stop(uow, v)
    events.volume_changed(uow, v)
    v.volume_type_id = new.id
    for snap in snaps:
        snap.volume_type_id = new.id
    v.updated_at = utcnow()


def _check_type_quota(
    session: Session, settings: Settings, v: Volume, new: VolumeType, snaps: list[Snapshot]
) -> None:
    """The new type's own limits (``volumes_T``, ``gigabytes_T``, ``snapshots_T``)."""
    limit = quotas.limits(session, settings, v.project_id)
    used = quotas.usage(session, v.project_id)
    wanted = {
        f"volumes_{new.name}": 1,
        f"gigabytes_{new.name}": v.size + sum(x.size for x in snaps),
        f"snapshots_{new.name}": len(snaps),
    }
    for name, amount in wanted.items():
        cap = limit.get(name, -1)
        if cap >= 0 and amount and used.get(name, 0) + amount > cap:
            raise common.OverLimit(
                f"Quota exceeded for {name}: {used.get(name, 0)} in use, {amount} more asked, "
                f"limit {cap}."
            )


def reset_status(uow: UnitOfWork, ctx: RequestContext, v: Volume, data: Any) -> None:
    require(ctx, "volume_extension:volume_admin_actions:reset_status", v)
    if not isinstance(data, dict) or not data:
        raise BadRequest("Must specify 'status', 'attach_status' or 'migration_status' for update.")
    if "status" in data:
        if data["status"] not in STATUSES:
            raise BadRequest(f"Must specify a valid status (not {common.shown(data['status'])!r}).")
        v.status = data["status"]
        v.held = True  # an admin's statement: not work for the storage agent
        if v.status not in ("creating", "extending", "deleting"):
            v.task = {}
    if "attach_status" in data:
        if data["attach_status"] not in ("attached", "detached"):
            raise BadRequest("Must specify a valid attach status.")
        v.attach_status = data["attach_status"]
    v.updated_at = utcnow()
    events.volume_changed(uow, v)


def set_bootable(ctx: RequestContext, v: Volume, data: Any) -> None:
    require(ctx, "volume:update", v)
    if not isinstance(data, dict) or "bootable" not in data:
        raise BadRequest("Must specify bootable in request.")
    v.bootable = common.boolean(data["bootable"], "bootable")
    v.updated_at = utcnow()


def set_readonly(ctx: RequestContext, v: Volume, data: Any) -> None:
    """``os-update_readonly_flag``: a read-only volume is attached read-only (``ro``)."""
    require(ctx, "volume:update_readonly_flag", v)
    if not isinstance(data, dict) or "readonly" not in data:
        raise BadRequest("Must specify readonly in request.")
    flag = common.boolean(data["readonly"], "readonly")
    if v.status != "available":
        raise InvalidState(
            f"Volume {v.id} status must be available to update its readonly flag ({v.status})."
        )
    v.readonly = flag
    v.updated_at = utcnow()


def set_metadata(
    uow: UnitOfWork, ctx: RequestContext, volume_id: str, body: Any, *, replace: bool
) -> dict[str, str]:
    v = load(uow.session, ctx, volume_id, lock=True)
    require(ctx, "volume:update_volume_metadata", v)
    v.meta = metadata.merged(v.meta, body, replace=replace)
    v.updated_at = utcnow()
    return dict(v.meta)


def set_metadata_item(
    uow: UnitOfWork, ctx: RequestContext, volume_id: str, key: str, body: Any
) -> dict[str, str]:
    v = load(uow.session, ctx, volume_id, lock=True)
    require(ctx, "volume:update_volume_metadata", v)
    v.meta = metadata.with_item(v.meta, key, body)
    v.updated_at = utcnow()
    return {key: v.meta[key]}


def delete_metadata(uow: UnitOfWork, ctx: RequestContext, volume_id: str, key: str) -> None:
    v = load(uow.session, ctx, volume_id, lock=True)
    require(ctx, "volume:delete_volume_metadata", v)
    v.meta = metadata.without(v.meta, key)
    v.updated_at = utcnow()
