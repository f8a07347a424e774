"""Nova's ``os-volume_attachments``: a server's volumes, attached and detached
through the block storage service's attachment records.

Attaching records the attachment (host: the server's host, device: the
next free ``/dev/vdX``) and makes the volume ``in-use``: the storage host
exports the volume to the server's host, whose agent plugs it in (a VM
gets a virtio disk by QMP, a namespace instance a mount). Detaching makes
the attachment ``detaching``; the host's agent unplugs it and reports, and
the volume is ``available`` then (``kumo.volume.attachments``). Deleting a
server drops its attachments at once (its host removes the server anyway).
"""

from __future__ import annotations

import string
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.compute import block_devices, server_networks, server_status, servers
from kumo.compute.microversion import Version, parse
from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.compute_models import Server
from kumo.db.uow import UnitOfWork
from kumo.db.volume_models import Volume, VolumeAttachment
from kumo.errors import BadRequest, Conflict, NotFound
from kumo.policy import authorize
from kumo.volume import attachments, volumes

ATTACHABLE = ("active", "stopped", "paused", "suspended")
V_TAG = parse("2.70")
V_DELETE_ON_TERMINATION = parse("2.79")


def _server(session: Session, ctx: RequestContext, server_id: str, rule: str) -> Server:
    server = servers.load(session, ctx, server_id, lock=True)
    authorize(ctx, rule, {"project_id": server.project_id})
    return server


def view(a: VolumeAttachment, version: Version) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": a.volume_id,
        "serverId": a.instance_uuid,
        "volumeId": a.volume_id,
        "device": a.mountpoint,
    }
    if version >= V_TAG:
        out["tag"] = None
    if version >= V_DELETE_ON_TERMINATION:
        out["delete_on_termination"] = bool(a.delete_on_termination)
    return out


def of_server(session: Session, server_id: str) -> list[VolumeAttachment]:
    return list(
        session.scalars(
            select(VolumeAttachment)
            .where(VolumeAttachment.instance_uuid == server_id)
            .order_by(VolumeAttachment.created_at)
        )
    )


def listing(session: Session, ctx: RequestContext, server_id: str) -> list[VolumeAttachment]:
    _server(session, ctx, server_id, "compute:os-volumes-attachments:index")
    return of_server(session, server_id)


def show(session: Session, ctx: RequestContext, server_id: str, volume_id: str) -> VolumeAttachment:
    _server(session, ctx, server_id, "compute:os-volumes-attachments:index")
    found = [a for a in of_server(session, server_id) if a.volume_id == volume_id]
    if not found:
        raise NotFound(
            f"Volume {volume_id} is not attached to server {server_id}.",
            kind="VolumeBDMNotFound",
        )
    return found[0]


def _device(taken: list[str | None], wanted: Any) -> str:
    if wanted is not None:
        if not isinstance(wanted, str) or not wanted.startswith("/dev/"):
            raise BadRequest(f"The supplied device path ({wanted}) is invalid.")
        if wanted in taken:
            raise BadRequest(f"The supplied device path ({wanted}) is in use.")
        return wanted
    for letter in string.ascii_lowercase[1:]:
        device = f"/dev/vd{letter}"
        if device not in taken:
            return device
    raise BadRequest("No free disk device names for prefix 'vd'.")


def attach(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, server_id: str, body: Any
) -> VolumeAttachment:
    s = uow.session
    server = _server(s, ctx, server_id, "compute:os-volumes-attachments:create")
    data = body.get("volumeAttachment") if isinstance(body, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("volumeId"), str):
        raise BadRequest(
            "Invalid input for field/attribute volumeAttachment: volumeId is required."
        )
    ports = [port.status for port in server_networks.server_ports(s, server.id)]
    state = server_status.derive(server, ports, utcnow(), settings.vif_plugged_timeout).vm_state
    if state not in ATTACHABLE:
        raise Conflict(
            f"Cannot 'attach_volume' instance {server.id} while it is in vm_state {state}",
            kind="InstanceInvalidState",
        )
    v = volumes.load(s, ctx, data["volumeId"], lock=True)
    mine = of_server(s, server.id)
    if any(a.volume_id == v.id for a in mine):
        raise BadRequest(f"Invalid volume: volume {v.id} is already attached to this server.")
    device = _device([a.mountpoint for a in mine], data.get("device"))
    connector = {"host": server.host, "mountpoint": device, "instance": server.id}
    a = attachments.attach(uow, ctx, v, server.id, connector)
    attachments.mark_attached(uow, v, a)
    return a


def detach(uow: UnitOfWork, ctx: RequestContext, server_id: str, volume_id: str) -> None:
    s = uow.session
    _server(s, ctx, server_id, "compute:os-volumes-attachments:delete")
    a = show(s, ctx, server_id, volume_id)
    if a.boot_index == 0:
        raise BadRequest("Can't detach root device volume", kind="InvalidInput")
    v = s.get(Volume, a.volume_id, with_for_update=True)
    if v is None:
        return
    if a.attached_host:
        attachments.begin_detach(uow, v, a)
    else:
        attachments.detach(uow, v, a)


def release(uow: UnitOfWork, server_id: str) -> None:
    """A server is going: its volumes are detached (``available`` again), a
    root volume marked ``delete_on_termination`` deleted."""
    from kumo.volume import events

    s = uow.session
    for a in of_server(s, server_id):
        v = s.get(Volume, a.volume_id, with_for_update=True)
        if v is None:
            continue
        if v.status == "creating":  # a root volume still being made for it
            events.attachment_changed(uow, a, v, deleted=True)
            s.delete(a)
            s.flush()
        else:
            attachments.detach(uow, v, a)
        block_devices.release_root(uow, a, v)
