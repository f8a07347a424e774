"""Attachments of volumes to servers (the v3 ``/attachments`` API, and what
Nova's ``os-volume_attachments`` calls).

An attachment made without a connector reserves the volume (``reserved``);
a connector (the host that will use the volume) makes it ``attaching``
and answers the connection info; completing it makes the volume
``in-use``; deleting the last attachment makes it ``available`` again.
The connection info names the NBD export its storage host serves the
volume by (``events.attachment_changed`` tells both hosts).

Detaching an attachment made through Nova is the compute host's work:
``begin_detach`` makes it (and the volume) ``detaching``; the host's agent
unplugs the disk, flushes, and reports ``detached`` (``report``), and only
then is the record deleted, so the volume is ``available`` only once no
host writes to it any more. Deleting an attachment directly (the v3 API,
``os-force_detach``) does not wait: that is the way out when the compute
host died with the volume attached.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.compute_models import Server
from kumo.db.uow import UnitOfWork
from kumo.db.volume_models import StorageHost, Volume, VolumeAttachment
from kumo.errors import BadRequest, NotFound
from kumo.identity.agent_credentials import authorize_hosts
from kumo.policy import allowed, authorize, unrestricted
from kumo.volume import common, encryption, events, messages, volumes
from kumo.volume.common import InvalidState

SORT_KEYS = ("created_at", "id", "volume_id", "instance_uuid")


def not_found(attachment_id: str) -> NotFound:
    return NotFound(
        f"Volume attachment could not be found with filter: attachment_id = {attachment_id}.",
        kind="VolumeAttachmentNotFound",
    )


def load(session: Session, ctx: RequestContext, attachment_id: str) -> VolumeAttachment:
    a = session.get(VolumeAttachment, attachment_id)
    if a is None or not allowed(ctx, "volume:attachment_get", {"project_id": a.project_id}):
        raise not_found(attachment_id)
    return a


def connection_info(session: Session, v: Volume, a: VolumeAttachment) -> dict[str, Any]:
    host = session.get(StorageHost, v.storage_host) if v.storage_host else None
    return {
        "driver_volume_type": "nbd",
        "data": {
            "volume_id": v.id,
            "storage_host": v.storage_host,
            "pool": v.pool,
            "host": host.export_address if host is not None else None,
            "port": host.export_port if host is not None else None,
            "export": a.id,
            "format": "raw",
            "access_mode": a.attach_mode,
            "mount_path": (a.connector or {}).get("mount_path"),
        },
    }


def view(
    session: Session, a: VolumeAttachment, v: Volume | None, *, detail: bool = True
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": a.id,
        "status": a.attach_status,
        "instance": a.instance_uuid,
        "volume_id": a.volume_id,
    }
    if detail:
        out.update(
            {
                "attached_at": common.stamp(a.attached_at),
                "detached_at": None,
                "attach_mode": a.attach_mode,
                "connection_info": (
                    connection_info(session, v, a) if v is not None and a.connector else {}
                ),
            }
        )
    return out


def listing(
    session: Session, ctx: RequestContext, params: dict[str, str]
) -> list[VolumeAttachment]:
    query = select(VolumeAttachment)
    every = params.get("all_tenants", "").lower() in ("1", "true", "yes")
    if not (every and unrestricted(ctx, "volume:attachment_get_all_tenants")):
        query = query.where(VolumeAttachment.project_id == (ctx.project_id or ""))
    for key, column in (("volume_id", VolumeAttachment.volume_id),
                        ("instance_id", VolumeAttachment.instance_uuid),
                        ("status", VolumeAttachment.attach_status)):  # fmt: skip
        if params.get(key):
            query = query.where(column == params[key])
    rows = [
        a for a in session.scalars(query)
        if allowed(ctx, "volume:attachment_get", {"project_id": a.project_id})
    ]  # fmt: skip
    items, _ = common.page(
        rows, params, lambda a, k: getattr(a, k, None), lambda a: a.id, SORT_KEYS
    )
    return items


def _connector(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest("connector must be an object.")
    return dict(value)


def attach(
    uow: UnitOfWork,
    ctx: RequestContext,
    v: Volume,
    instance_uuid: str | None,
    connector: dict[str, Any],
    mode: str = "rw",
) -> VolumeAttachment:
    """Reserve ``v`` for a server (``attaching`` when a connector is given)."""
    authorize(ctx, "volume:attachment_create", volumes.target(v))
    busy = [
        a for a in uow.session.scalars(
            select(VolumeAttachment).where(VolumeAttachment.volume_id == v.id)
        )
    ]  # fmt: skip
    if v.status != "available" and not (v.multiattach and v.status == "in-use"):
        raise InvalidState(
            f"Invalid volume: Volume {v.id} status must be available to reserve, but the "
            f"status is {v.status}."
        )
    if busy and not v.multiattach:
        raise InvalidState(f"Invalid volume: Volume {v.id} is already attached or reserved.")
    if mode not in ("rw", "ro"):
        raise BadRequest("mode must be 'rw' or 'ro'.")
    encryption.refuse_attach(uow.session, v)
    if v.readonly:
        mode = "ro"  # os-update_readonly_flag
    a = VolumeAttachment(
        volume_id=v.id,
        project_id=v.project_id,
        instance_uuid=instance_uuid,
        attach_status="attaching" if connector else "reserved",
        attach_mode=mode,
        connector=connector,
        attached_host=connector.get("host") if connector else None,
        mountpoint=connector.get("mountpoint") if connector else None,
    )
    uow.session.add(a)
    uow.session.flush()
    v.status = "attaching" if connector else "reserved"
    v.updated_at = utcnow()
    events.volume_changed(uow, v)
    events.attachment_changed(uow, a, v)
    return a


def create(uow: UnitOfWork, ctx: RequestContext, body: Any) -> tuple[VolumeAttachment, Volume]:
    data = common.body_of(body, "attachment")
    if not data.get("volume_uuid"):
        raise BadRequest("Missing required element 'volume_uuid' in attachment.")
    v = volumes.load(uow.session, ctx, str(data["volume_uuid"]), lock=True)
    instance = common.text(data.get("instance_uuid"), "instance_uuid")
    a = attach(uow, ctx, v, instance, _connector(data.get("connector")), data.get("mode", "rw"))
    return a, v


def update(
    uow: UnitOfWork, ctx: RequestContext, attachment_id: str, body: Any
) -> tuple[VolumeAttachment, Volume]:
    data = common.body_of(body, "attachment")
    connector = _connector(data.get("connector"))
    if not connector:
        raise BadRequest("An attachment update needs a connector.")
    s = uow.session
    a = load(s, ctx, attachment_id)
    authorize(ctx, "volume:attachment_update", {"project_id": a.project_id})
    v = volumes.load(s, ctx, a.volume_id, lock=True)
    if a.attach_status not in ("reserved", "attaching", "attached"):
        raise InvalidState(f"Invalid volume: attachment {a.id} is {a.attach_status}.")
    a.connector = connector
    a.attached_host = connector.get("host")
    a.mountpoint = connector.get("mountpoint", a.mountpoint)
    if a.attach_status == "reserved":
        a.attach_status = "attaching"
        v.status = "attaching"
    a.updated_at = v.updated_at = utcnow()
    events.volume_changed(uow, v)
    events.attachment_changed(uow, a, v)
    return a, v


def complete(uow: UnitOfWork, ctx: RequestContext, attachment_id: str) -> None:
    s = uow.session
    a = load(s, ctx, attachment_id)
    authorize(ctx, "volume:attachment_complete", {"project_id": a.project_id})
    v = volumes.load(s, ctx, a.volume_id, lock=True)
    if a.attach_status not in ("attaching", "attached", "reserved"):
        raise InvalidState(f"Invalid volume: attachment {a.id} is {a.attach_status}.")
    mark_attached(uow, v, a)


def mark_attached(uow: UnitOfWork, v: Volume, a: VolumeAttachment) -> None:
    now = utcnow()
    a.attach_status = "attached"
    a.attached_at = a.attached_at or now
    a.updated_at = now
    v.status = "in-use"
    v.attach_status = "attached"
    v.updated_at = now
    events.volume_changed(uow, v)
    events.attachment_changed(uow, a, v)


def begin_detach(uow: UnitOfWork, v: Volume, a: VolumeAttachment) -> None:
    """Ask the compute host to let go of the volume (``detaching`` until it reports)."""
    if a.attach_status == "detaching":
        return
    a.attach_status = "detaching"
    a.updated_at = v.updated_at = utcnow()
    v.status = "detaching"
    events.volume_changed(uow, v)
    events.attachment_changed(uow, a, v)


def detach(uow: UnitOfWork, v: Volume, a: VolumeAttachment) -> None:
    """Remove an attachment; the volume is ``available`` once it has none."""
    s = uow.session
    events.attachment_changed(uow, a, v, deleted=True)
    _unpublish(s, a)
    s.delete(a)
    s.flush()
    left = list(s.scalars(select(VolumeAttachment).where(VolumeAttachment.volume_id == v.id)))
    if not left:
        v.status = "available"
        v.attach_status = "detached"
    elif not any(x.attach_status == "attached" for x in left):
        v.status = "reserved"
        v.attach_status = "detached"
    v.updated_at = utcnow()
    events.volume_changed(uow, v)


def remove(uow: UnitOfWork, ctx: RequestContext, attachment_id: str) -> list[VolumeAttachment]:
    s = uow.session
    a = load(s, ctx, attachment_id)
    authorize(ctx, "volume:attachment_delete", {"project_id": a.project_id})
    v = volumes.load(s, ctx, a.volume_id, lock=True)
    detach(uow, v, a)
    return list(s.scalars(select(VolumeAttachment).where(VolumeAttachment.volume_id == v.id)))


# -- what compute hosts report -----------------------------------------------------------

MOUNT_KEY = "volume:{}"
"""The server metadata key under which a namespace instance finds where a volume is mounted."""


def _unpublish(session: Session, a: VolumeAttachment) -> None:
    path = (a.connector or {}).get("mount_path")
    server = session.get(Server, a.instance_uuid) if a.instance_uuid and path else None
    if server is not None:
        meta = dict(server.meta or {})
        if meta.pop(MOUNT_KEY.format(a.volume_id), None) is not None:
            server.meta = meta


def report(uow: UnitOfWork, ctx: RequestContext, body: Any) -> list[str]:
    """A compute host's outcomes: ``{"attachments": [{"id", "status", "mount_path"?,
    "error"?}]}``. ``detached`` ends a ``detaching`` attachment; ``attached``
    with a ``mount_path`` publishes where a namespace instance finds the
    volume (server metadata ``volume:VOLUME_ID``). Only for the host's own
    attachments; late or repeated reports change nothing."""
    items = body.get("attachments") if isinstance(body, dict) else None
    if not isinstance(items, list) or not all(
        isinstance(i, dict) and isinstance(i.get("id"), str) and isinstance(i.get("status"), str)
        for i in items
    ):
        raise BadRequest("Expected {'attachments': [{'id': ..., 'status': ...}]}.")
    s = uow.session
    rows = {
        a.id: a
        for a in s.scalars(
            select(VolumeAttachment).where(VolumeAttachment.id.in_([i["id"] for i in items]))
        )
    }
    authorize_hosts(
        s, ctx, sorted({a.attached_host or "" for a in rows.values()}), "internal:storage_report"
    )
    changed = []
    for item in items:
        a = rows.get(item["id"])
        if a is None:
            continue
        v = s.get(Volume, a.volume_id, with_for_update=True)
        if v is None:
            continue
        if item["status"] == "detached" and a.attach_status == "detaching":
            detach(uow, v, a)
            changed.append(a.id)
        elif item["status"] == "attached" and a.attach_status != "detaching":
            path = item.get("mount_path")
            if isinstance(path, str) and path and (a.connector or {}).get("mount_path") != path:
                a.connector = {**(a.connector or {}), "mount_path": path}
                server = s.get(Server, a.instance_uuid) if a.instance_uuid else None
                if server is not None:
                    server.meta = {**(server.meta or {}), MOUNT_KEY.format(v.id): path}
                changed.append(a.id)
        elif item["status"] == "error" and a.attach_status in ("attaching", "attached"):
            failed(uow, v, a, str(item.get("error") or "the compute host failed"))
            changed.append(a.id)
    return changed


def failed(uow: UnitOfWork, v: Volume, a: VolumeAttachment, error: str) -> None:
    """The compute host could not attach the volume (its export unreachable,
    QEMU refused the disk...): the attachment is ``error_attaching`` and so
    is the volume, with a user message saying why. Detaching it (``server
    remove volume``, or deleting the attachment) makes it ``available``."""
    a.attach_status = "error_attaching"
    a.connector = {**(a.connector or {}), "error": error[:255]}
    a.updated_at = v.updated_at = utcnow()
    v.status = "error_attaching"
    v.attach_status = "detached"
    text = f"attach volume: the compute host {a.attached_host} could not attach it: {error}"
    messages.record(uow, v.project_id, "VOLUME", v.id, messages.ATTACH_VOLUME, text[:1000])
    events.volume_changed(uow, v)
    events.attachment_changed(uow, a, v)


def force_detach(uow: UnitOfWork, ctx: RequestContext, v: Volume, data: Any) -> None:
    """``os-force_detach``: drop the volume's attachment (the one named, or
    every one) without waiting for its compute host, which may be dead."""
    authorize(ctx, "volume_extension:volume_admin_actions:force_detach", volumes.target(v))
    data = data if isinstance(data, dict) else {}
    query = select(VolumeAttachment).where(VolumeAttachment.volume_id == v.id)
    if data.get("attachment_id"):
        query = query.where(VolumeAttachment.id == str(data["attachment_id"]))
    found = list(uow.session.scalars(query))
    if not found and data.get("attachment_id"):
        raise not_found(str(data["attachment_id"]))
    for a in found:
        detach(uow, v, a)
    if not found and v.status in ("attaching", "detaching", "reserved"):
        v.status = "available"
        v.attach_status = "detached"
        v.updated_at = utcnow()
        events.volume_changed(uow, v)


# -- the legacy volume actions Nova used before the attachments API ----------------------


def legacy_action(uow: UnitOfWork, ctx: RequestContext, v: Volume, action: str, data: Any) -> None:
    authorize(ctx, "volume:attachment_update", volumes.target(v))
    s = uow.session
    data = data if isinstance(data, dict) else {}
    if action == "os-reserve":
        if v.status != "available":
            raise InvalidState(
                f"Invalid volume: Volume status must be available to reserve ({v.status})."
            )
        v.status = "attaching"
    elif action == "os-unreserve":
        if v.status == "attaching":
            v.status = "in-use" if v.attach_status == "attached" else "available"
    elif action == "os-begin_detaching":
        if v.status != "in-use":
            raise InvalidState(f"Invalid volume: Volume status must be in-use ({v.status}).")
        v.status = "detaching"
    elif action == "os-roll_detaching":
        if v.status == "detaching":
            v.status = "in-use"
    elif action == "os-attach":
        if v.status not in ("available", "attaching", "reserved"):
            raise InvalidState(f"Invalid volume: Volume status must be available ({v.status}).")
        encryption.refuse_attach(s, v)
        a = VolumeAttachment(
            volume_id=v.id,
            project_id=v.project_id,
            instance_uuid=common.text(data.get("instance_uuid"), "instance_uuid"),
            attached_host=common.text(data.get("host_name"), "host_name"),
            mountpoint=common.text(data.get("mountpoint"), "mountpoint"),
            attach_mode="ro" if v.readonly or data.get("mode") == "ro" else "rw",
        )
        s.add(a)
        s.flush()
        mark_attached(uow, v, a)
        return
    elif action == "os-detach":
        query = select(VolumeAttachment).where(VolumeAttachment.volume_id == v.id)
        if data.get("attachment_id"):
            query = query.where(VolumeAttachment.id == str(data["attachment_id"]))
        found = list(s.scalars(query))
        if not found:
            raise InvalidState(f"Invalid volume: Volume {v.id} is not attached.")
        if len(found) > 1:
            raise BadRequest("The volume has several attachments: name the attachment_id.")
        detach(uow, v, found[0])
        return
    v.updated_at = utcnow()
    events.volume_changed(uow, v)
