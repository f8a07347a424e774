"""Generic volume groups, group types (with group specs such as
``consistent_group_snapshot_enabled``) and group snapshots.

A group snapshot makes one snapshot of each volume of the group and is
``available`` once all of them are. Here the snapshots are taken one by
one by the storage agent: a group type with
``consistent_group_snapshot_enabled`` is recorded, the consistent cut
across volumes (a QMP transaction) is the data path's work.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.compute.microversion import Version
from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.uow import UnitOfWork
from kumo.db.volume_models import GroupSnapshot, GroupType, Snapshot, Volume, VolumeGroup
from kumo.errors import BadRequest, Conflict, NotFound
from kumo.policy import allowed, authorize, unrestricted
from kumo.volume import common, events, quotas, snapshots, types, volumes
from kumo.volume.common import InvalidState

SORT_KEYS = ("created_at", "id", "name", "status")
DEFAULT_GROUP_TYPE = "default_group_type"


def ensure_default(session: Session) -> None:
    if session.scalar(select(GroupType).where(GroupType.name == DEFAULT_GROUP_TYPE)) is None:
        session.add(GroupType(name=DEFAULT_GROUP_TYPE, description="Default group type"))


# -- group types ------------------------------------------------------------------------


def type_not_found(ident: str) -> NotFound:
    return NotFound(f"Group type {ident} could not be found.", kind="GroupTypeNotFound")


def find_type(session: Session, ctx: RequestContext, ident: str) -> GroupType:
    gt = session.get(GroupType, ident) or session.scalar(
        select(GroupType).where(GroupType.name == ident)
    )
    if gt is None or not (gt.is_public or unrestricted(ctx, "group:group_types_manage")):
        raise type_not_found(ident)
    return gt


def type_view(gt: GroupType) -> dict[str, Any]:
    return {
        "id": gt.id,
        "name": gt.name,
        "description": gt.description,
        "is_public": gt.is_public,
        "group_specs": dict(gt.group_specs or {}),
    }


def list_types(
    session: Session, ctx: RequestContext, params: dict[str, str] | None = None
) -> list[GroupType]:
    """Public types (admins: all, or those ``is_public`` asks for), sorted and paged."""
    params = params or {}
    rows = session.scalars(select(GroupType).order_by(GroupType.name))
    admin = unrestricted(ctx, "group:group_types_manage")
    public = (params.get("is_public") or "none").lower()
    wanted = None if public == "none" or not admin else common.boolean(public, "is_public")
    found = [
        gt for gt in rows
        if (gt.is_public or admin) and (wanted is None or gt.is_public == wanted)
    ]  # fmt: skip
    items, _ = common.page(
        found, params, lambda g, k: getattr(g, k, None), lambda g: g.id, ("id", "name")
    )
    return items


def _specs(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        raise BadRequest("group_specs must be an object.")
    out = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key or len(key) > 255 or len(str(item)) > 255:
            raise BadRequest(f"Invalid group spec {common.shown(key)!r}.")
        out[key] = str(item)
    return out


def create_type(uow: UnitOfWork, ctx: RequestContext, body: Any) -> GroupType:
    authorize(ctx, "group:group_types_manage")
    data = common.body_of(body, "group_type")
    name = common.text(data.get("name"), "name", required=True)
    s = uow.session
    if s.scalar(select(GroupType).where(GroupType.name == name)) is not None:
        raise Conflict(f"Group Type {name} already exists.", kind="GroupTypeExists")
    gt = GroupType(
        name=name,
        description=common.text(data.get("description"), "description"),
        is_public=common.boolean(data.get("is_public", True), "is_public"),
        group_specs=_specs(data.get("group_specs") or {}),
    )
    s.add(gt)
    s.flush()
    return gt


def update_type(uow: UnitOfWork, ctx: RequestContext, type_id: str, body: Any) -> GroupType:
    authorize(ctx, "group:group_types_manage")
    data = common.body_of(body, "group_type")
    gt = find_type(uow.session, ctx, type_id)
    if "name" in data:
        gt.name = common.text(data["name"], "name", required=True) or gt.name
    if "description" in data:
        gt.description = common.text(data["description"], "description")
    if "is_public" in data:
        gt.is_public = common.boolean(data["is_public"], "is_public")
    return gt


def delete_type(uow: UnitOfWork, ctx: RequestContext, type_id: str) -> None:
    authorize(ctx, "group:group_types_manage")
    s = uow.session
    gt = find_type(s, ctx, type_id)
    if s.scalar(select(VolumeGroup.id).where(VolumeGroup.group_type_id == gt.id).limit(1)):
        raise BadRequest(f"Group type {gt.id} is still in use.", kind="GroupTypeInUse")
    s.delete(gt)


def set_specs(uow: UnitOfWork, ctx: RequestContext, type_id: str, body: Any) -> dict[str, str]:
    authorize(ctx, "group:group_types_specs")
    if not isinstance(body, dict) or not isinstance(body.get("group_specs"), dict):
        raise BadRequest("Expected {'group_specs': {...}}.")
    gt = find_type(uow.session, ctx, type_id)
    added = _specs(body["group_specs"])
    gt.group_specs = {**(gt.group_specs or {}), **added}
    return added  # the answer holds what the request set, as Cinder's does


def set_spec(
    uow: UnitOfWork, ctx: RequestContext, type_id: str, key: str, body: Any
) -> dict[str, str]:
    authorize(ctx, "group:group_types_specs")
    if not isinstance(body, dict) or list(body) != [key]:
        raise BadRequest("Request body and URI mismatch: the body must hold just that key.")
    gt = find_type(uow.session, ctx, type_id)
    gt.group_specs = {**(gt.group_specs or {}), **_specs(body)}
    return {key: gt.group_specs[key]}


def delete_spec(uow: UnitOfWork, ctx: RequestContext, type_id: str, key: str) -> None:
    authorize(ctx, "group:group_types_specs")
    gt = find_type(uow.session, ctx, type_id)
    specs = dict(gt.group_specs or {})
    if key not in specs:
        raise NotFound(
            f"Group type {type_id} has no group spec {key}.", kind="GroupTypeSpecsNotFound"
        )
    del specs[key]
    gt.group_specs = specs


def consistent(gt: GroupType | None) -> bool:
    value = str((gt.group_specs or {}).get("consistent_group_snapshot_enabled", "")) if gt else ""
    return value.replace("<is>", "").strip().lower() == "true"


# -- groups -----------------------------------------------------------------------------


def not_found(group_id: str) -> NotFound:
    return NotFound(f"Group {group_id} could not be found.", kind="GroupNotFound")


def load(session: Session, ctx: RequestContext, group_id: str) -> VolumeGroup:
    g = session.get(VolumeGroup, group_id)
    if g is None or not allowed(ctx, "group:get", {"project_id": g.project_id}):
        raise not_found(group_id)
    return g


def view(
    session: Session,
    g: VolumeGroup,
    *,
    detail: bool = True,
    with_volumes: bool = False,
    with_project: bool = False,
) -> dict[str, Any]:
    """A group as Cinder shows it; ``project_id`` only from 3.58 (``with_project``)."""
    if not detail:
        return {"id": g.id, "name": g.name}
    out: dict[str, Any] = {
        "id": g.id,
        "name": g.name,
        "description": g.description,
        "status": g.status,
        "availability_zone": g.availability_zone,
        "created_at": common.stamp(g.created_at),
        "group_type": g.group_type_id,
        "volume_types": list(g.volume_type_ids or []),
        "group_snapshot_id": None,
        "source_group_id": None,
        "replication_status": "disabled",
    }
    if with_project:
        out["project_id"] = g.project_id
    if with_volumes:
        out["volumes"] = list(session.scalars(select(Volume.id).where(Volume.group_id == g.id)))
    return out


def listing(session: Session, ctx: RequestContext, params: dict[str, str]) -> list[VolumeGroup]:
    query = select(VolumeGroup)
    every = params.get("all_tenants", "").lower() in ("1", "true", "yes")
    if not (every and unrestricted(ctx, "group:get_all")):
        query = query.where(VolumeGroup.project_id == (ctx.project_id or ""))
    if params.get("name"):
        query = query.where(VolumeGroup.name == params["name"])
    if params.get("status"):
        query = query.where(VolumeGroup.status == params["status"])
    rows = [
        g for g in session.scalars(query) if allowed(ctx, "group:get", {"project_id": g.project_id})
    ]
    items, _ = common.page(
        rows, params, lambda g, k: getattr(g, k, None), lambda g: g.id, SORT_KEYS
    )
    return items


def create(uow: UnitOfWork, settings: Settings, ctx: RequestContext, body: Any) -> VolumeGroup:
    authorize(ctx, "group:create", {"project_id": ctx.project_id})
    data = common.body_of(body, "group")
    s = uow.session
    if not data.get("group_type"):
        raise BadRequest("Missing required element 'group_type' in group.")
    gt = find_type(s, ctx, str(data["group_type"]))
    raw_types = data.get("volume_types")
    if not isinstance(raw_types, list) or not raw_types:
        raise BadRequest("Missing required element 'volume_types' in group (a list of types).")
    vtypes = [types.find(s, ctx, str(t)).id for t in raw_types]
    quotas.check(s, settings, ctx.project_id or "", "", {"groups": 1})
    g = VolumeGroup(
        name=common.text(data.get("name"), "name"),
        description=common.text(data.get("description"), "description"),
        project_id=ctx.project_id or "",
        user_id=ctx.user_id,
        group_type_id=gt.id,
        volume_type_ids=list(dict.fromkeys(vtypes)),
        availability_zone=common.text(data.get("availability_zone"), "availability_zone")
        or settings.default_availability_zone,
        status="available",
    )
    s.add(g)
    s.flush()
    return g


def _ids(value: Any, field: str) -> list[str]:
    if value is None or value == "":
        return []
    if not isinstance(value, str):
        raise BadRequest(f"{field} must be a comma-separated string of volume ids.")
    return [x.strip() for x in value.split(",") if x.strip()]


GROUP_STATUSES = ("creating", "available", "updating", "deleting", "error", "error_deleting",
                  "in-use")  # fmt: skip


def reset_status(uow: UnitOfWork, ctx: RequestContext, group_id: str, data: Any) -> None:
    """``reset_status`` (3.20, admins): set the group's status, nothing else."""
    g = load(uow.session, ctx, group_id)
    authorize(ctx, "group:reset_status", {"project_id": g.project_id})
    if not isinstance(data, dict) or data.get("status") not in GROUP_STATUSES:
        raise BadRequest(f"Must specify a valid status: one of {', '.join(GROUP_STATUSES)}.")
    g.status = data["status"]


def update(uow: UnitOfWork, ctx: RequestContext, group_id: str, body: Any) -> None:
    data = common.body_of(body, "group")
    s = uow.session
    g = load(s, ctx, group_id)
    authorize(ctx, "group:update", {"project_id": g.project_id})
    if g.status != "available":
        raise InvalidState(f"Invalid group: group {g.id} is {g.status}, not available.")
    if "name" in data:
        g.name = common.text(data["name"], "name")
    if "description" in data:
        g.description = common.text(data["description"], "description")
    for vid in _ids(data.get("add_volumes"), "add_volumes"):
        v = volumes.load(s, ctx, vid, lock=True)
        if v.group_id is not None and v.group_id != g.id:
            raise InvalidState(f"Invalid volume: volume {v.id} belongs to group {v.group_id}.")
        if v.status not in ("available", "in-use"):
            raise InvalidState(f"Invalid volume: volume {v.id} is {v.status}.")
        if v.volume_type_id not in (g.volume_type_ids or []):
            raise BadRequest(f"Invalid volume: the group does not support volume {v.id}'s type.")
        host = volumes.group_host(s, g)
        if host is not None and v.storage_host not in (None, host):
            raise InvalidState(
                f"Invalid volume: volume {v.id} is on storage host {v.storage_host} and the "
                f"group's volumes on {host}; a group's volumes share one storage host."
            )
        v.group_id = g.id
        s.flush()
    for vid in _ids(data.get("remove_volumes"), "remove_volumes"):
        v = volumes.load(s, ctx, vid, lock=True)
        if v.group_id != g.id:
            raise BadRequest(f"Invalid volume: volume {v.id} is not in group {g.id}.")
        v.group_id = None
    g.updated_at = utcnow()


def delete(uow: UnitOfWork, ctx: RequestContext, group_id: str, delete_volumes: bool) -> None:
    s = uow.session
    g = load(s, ctx, group_id)
    authorize(ctx, "group:delete", {"project_id": g.project_id})
    members = list(s.scalars(select(Volume).where(Volume.group_id == g.id)))
    if s.scalar(select(GroupSnapshot.id).where(GroupSnapshot.group_id == g.id).limit(1)):
        raise InvalidState(f"Invalid group: group {g.id} has group snapshots.")
    if members and not delete_volumes:
        raise InvalidState(
            f"Invalid group: group {g.id} still contains volumes; pass delete-volumes."
        )
    for v in members:
        if v.status not in volumes.DELETABLE:
            raise InvalidState(f"Invalid volume: volume {v.id} is {v.status}.")
        if s.scalar(select(Snapshot.id).where(Snapshot.volume_id == v.id).limit(1)):
            raise InvalidState(f"Invalid volume: volume {v.id} has snapshots.")
    for v in members:
        v.group_id = None
        volumes.start_delete(uow, v)
    s.flush()
    s.delete(g)


def create_from_source(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, body: Any, version: Version
) -> VolumeGroup:
    """``POST /groups/action {"create-from-src": ...}`` (3.14): a new group of the
    source's type with a copy of each of its volumes (``source_group_id``: clones
    of the volumes; ``group_snapshot_id``: volumes from the member snapshots). The
    storage agents copy the data; each copy counts against the caller's quotas."""
    data = common.body_of(body, "create-from-src")
    from_group, from_snapshot = data.get("source_group_id"), data.get("group_snapshot_id")
    if bool(from_group) == bool(from_snapshot):
        raise BadRequest("Give source_group_id or group_snapshot_id (one of them).")
    s = uow.session
    if from_snapshot:
        gs = load_snapshot(s, ctx, str(from_snapshot))
        source = load(s, ctx, gs.group_id)
        members = list(s.scalars(
            select(Snapshot).where(Snapshot.group_snapshot_id == gs.id).order_by(Snapshot.id)))  # fmt: skip
        copies = [(x.size, x.volume_type_id, {"snapshot_id": x.id}) for x in members]
    else:
        source = load(s, ctx, str(from_group))
        vols = list(
            s.scalars(select(Volume).where(Volume.group_id == source.id).order_by(Volume.id))
        )
        copies = [(v.size, v.volume_type_id, {"source_volid": v.id}) for v in vols]
    made = create(uow, settings, ctx, {"group": {
        "name": data.get("name"), "description": data.get("description"),
        "group_type": source.group_type_id, "volume_types": list(source.volume_type_ids or []),
        "availability_zone": source.availability_zone}})  # fmt: skip
    for size, type_id, origin in copies:
        volumes.create(uow, settings, ctx, {"volume": {
            "size": size, "volume_type": type_id, "group_id": made.id, **origin}}, version)  # fmt: skip
    return made


# -- group snapshots ----------------------------------------------------------------------


def group_snapshot_status(session: Session, gs: GroupSnapshot) -> str:
    """``creating`` while a member is, ``error`` if one failed, else ``available``
    (as an admin's ``reset_status`` set it, once there was one)."""
    if gs.status == "deleting" or gs.held:
        return gs.status
    states = set(
        session.scalars(select(Snapshot.status).where(Snapshot.group_snapshot_id == gs.id))
    )
    if "error" in states:
        return "error"
    if "creating" in states:
        return "creating"
    return "available"


def load_snapshot(session: Session, ctx: RequestContext, ident: str) -> GroupSnapshot:
    gs = session.get(GroupSnapshot, ident)
    if gs is None or not allowed(ctx, "group:get_group_snapshot", {"project_id": gs.project_id}):
        raise NotFound(f"GroupSnapshot {ident} could not be found.", kind="GroupSnapshotNotFound")
    return gs


def snapshot_view(
    session: Session, gs: GroupSnapshot, *, detail: bool = True, with_project: bool = False
) -> dict[str, Any]:
    """A group snapshot; ``project_id`` only from 3.58 (``with_project``)."""
    if not detail:
        return {"id": gs.id, "name": gs.name}
    out = {
        "id": gs.id,
        "name": gs.name,
        "description": gs.description,
        "group_id": gs.group_id,
        "group_type_id": gs.group_type_id,
        "status": group_snapshot_status(session, gs),
        "created_at": common.stamp(gs.created_at),
    }
    if with_project:
        out["project_id"] = gs.project_id
    return out


def list_snapshots(
    session: Session, ctx: RequestContext, params: dict[str, str]
) -> list[GroupSnapshot]:
    query = select(GroupSnapshot)
    every = params.get("all_tenants", "").lower() in ("1", "true", "yes")
    if not (every and unrestricted(ctx, "group:get_all")):
        query = query.where(GroupSnapshot.project_id == (ctx.project_id or ""))
    rows = [
        gs for gs in session.scalars(query)
        if allowed(ctx, "group:get_group_snapshot", {"project_id": gs.project_id})
    ]  # fmt: skip
    items, _ = common.page(
        rows, params, lambda x, k: getattr(x, k, None), lambda x: x.id, SORT_KEYS
    )
    return items


def create_snapshot(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, body: Any
) -> GroupSnapshot:
    data = common.body_of(body, "group_snapshot")
    if not data.get("group_id"):
        raise BadRequest("Missing required element 'group_id' in group_snapshot.")
    s = uow.session
    g = load(s, ctx, str(data["group_id"]))
    authorize(ctx, "group:create_group_snapshot", {"project_id": g.project_id})
    members = list(s.scalars(select(Volume).where(Volume.group_id == g.id).with_for_update()))
    if not members:
        raise InvalidState(f"Invalid group: group {g.id} has no volumes to snapshot.")
    busy = [v.id for v in members if v.status not in ("available", "in-use") or not v.storage_host]
    if busy:
        raise InvalidState(f"Invalid group: volumes {', '.join(busy)} are not available.")
    hosts = sorted({str(v.storage_host) for v in members})
    if len(hosts) > 1:  # (none since a group's volumes share a host; refused, never split)
        raise InvalidState(
            f"Invalid group: its volumes are on storage hosts {', '.join(hosts)}; a group "
            "snapshot is one cut taken by one storage host."
        )
    gs = GroupSnapshot(
        name=common.text(data.get("name"), "name"),
        description=common.text(data.get("description"), "description"),
        project_id=g.project_id,
        user_id=ctx.user_id,
        group_id=g.id,
        group_type_id=g.group_type_id,
        status="creating",
    )
    s.add(gs)
    s.flush()
    made = [
        snapshots.make(
            uow, settings, ctx, v, name=f"group-snapshot-{gs.id}", description=None, meta={},
            group_snapshot_id=gs.id, publish=False,
        )
        for v in members
    ]  # fmt: skip
    for snap in made:  # each names all of them (``group_members``)
        events.snapshot_changed(uow, snap)
    return gs


SNAPSHOT_STATUSES = ("creating", "available", "deleting", "error", "error_deleting")


def reset_snapshot_status(uow: UnitOfWork, ctx: RequestContext, ident: str, body: Any) -> None:
    """``{"reset_status": {"status": S}}`` (3.19, admins): the group snapshot shows S
    from now on; its member snapshots are left as they are."""
    gs = load_snapshot(uow.session, ctx, ident)
    authorize(ctx, "group:reset_group_snapshot_status", {"project_id": gs.project_id})
    if not isinstance(body, dict) or list(body) != ["reset_status"]:
        raise BadRequest("There is no such group snapshot action (reset_status only).")
    data = body["reset_status"]
    if not isinstance(data, dict) or data.get("status") not in SNAPSHOT_STATUSES:
        raise BadRequest(f"Must specify a valid status: one of {', '.join(SNAPSHOT_STATUSES)}.")
    gs.status, gs.held, gs.updated_at = data["status"], True, utcnow()


def delete_snapshot(uow: UnitOfWork, ctx: RequestContext, ident: str) -> None:
    s = uow.session
    gs = load_snapshot(s, ctx, ident)
    authorize(ctx, "group:delete_group_snapshot", {"project_id": gs.project_id})
    status = group_snapshot_status(s, gs)
    if status not in ("available", "error"):
        raise InvalidState(
            f"Invalid group snapshot: it must be available or error to delete (it is {status})."
        )
    members = list(s.scalars(select(Snapshot).where(Snapshot.group_snapshot_id == gs.id)))
    for snap in members:
        snap.group_snapshot_id = None
        snapshots.start_delete(uow, snap)
    s.flush()
    s.delete(gs)
