"""Block device mappings on server create (``block_device_mapping_v2``) and
the root volume of a server booted from a volume.

Accepted mappings (what ``openstack server create`` sends):

- ``source_type=image, destination_type=local`` (``--image``): the usual
  local root disk, the same as ``imageRef``;
- ``source_type=volume, destination_type=volume, boot_index=0``
  (``--volume``): boot from an existing ``available`` volume;
- ``source_type=image, destination_type=volume, boot_index=0``
  (``--image ... --boot-from-volume SIZE``): a new volume of
  ``volume_size`` GiB is made from the image, and the server boots from it
  once its storage host has written it.

``imageRef`` is then empty, and the server's view shows ``image: ""`` as
Nova does for a volume-backed server. The root volume is the server's
attachment with ``boot_index`` 0 and device ``/dev/vda``; the compute host
opens its NBD export as the VM's root disk (it is never hot-plugged).
The VM's kernel and initramfs come from the image the volume was made
from (its ``volume_image_metadata``), so only volumes made from an image
are bootable here. ``delete_on_termination`` deletes the volume with the
server; otherwise it is ``available`` again once the server is gone. A
volume that fails to be made puts the server in ``ERROR``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.compute_models import Image, Server
from kumo.db.uow import UnitOfWork
from kumo.db.volume_models import Volume, VolumeAttachment
from kumo.errors import BadRequest, NotFound, shown

ROOT_DEVICE = "/dev/vda"
BUILD_FAILED = "Build of instance {server} aborted: Volume {volume} did not finish being created."


@dataclass(frozen=True)
class BootVolume:
    """The root disk asked for: an existing volume, or one to make from an image."""

    volume_id: str | None = None
    image_id: str | None = None
    size: int | None = None
    delete_on_termination: bool = False


def _bad(raw: Any) -> BadRequest:
    return BadRequest(
        f"Invalid input for field/attribute block_device_mapping_v2. Value: {shown(raw)}."
    )


def _flag(value: Any, raw: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    raise _bad(raw)


def parse(raw: Any) -> BootVolume | None:
    """The boot volume the mappings ask for; None for a local root disk."""
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise _bad(raw)
    boot: BootVolume | None = None
    for bdm in raw:
        if not isinstance(bdm, dict):
            raise _bad(raw)
        source = bdm.get("source_type")
        destination = bdm.get("destination_type", "local")
        if destination == "local" and source in ("image", None):
            continue
        index = bdm.get("boot_index")
        if destination != "volume" or source not in ("volume", "image"):
            raise BadRequest(
                f"Block device mapping source_type={source} destination_type={destination} "
                "is not supported: boot from an image (local) or from a volume."
            )
        if str(index) != "0":
            raise BadRequest("Only the boot volume (boot_index 0) may be given at server "
                             "create; attach other volumes once the server exists.")  # fmt: skip
        if boot is not None:
            raise BadRequest("Boot sequence for the instance and image/block device mapping "
                             "combination is not valid.")  # fmt: skip
        uuid = bdm.get("uuid")
        if not isinstance(uuid, str) or not uuid:
            raise _bad(raw)
        size = bdm.get("volume_size")
        if size is not None:
            try:
                size = int(size)
            except (TypeError, ValueError):
                raise _bad(raw) from None
            if size < 1:
                raise _bad(raw)
        delete = _flag(bdm.get("delete_on_termination", False), raw)
        if source == "volume":
            boot = BootVolume(volume_id=uuid, delete_on_termination=delete)
        else:
            boot = BootVolume(image_id=uuid, size=size, delete_on_termination=delete)
    return boot


def boot_image(
    session: Session, ctx: RequestContext, boot: BootVolume, max_count: int
) -> tuple[Image, Volume | None]:
    """The image the server boots (its kernel, initramfs, driver and
    minimums) and the existing volume, checked before anything is made."""
    from kumo.volume import images, volumes

    if boot.volume_id is not None:
        if max_count > 1:
            raise BadRequest("Unable to launch multiple instances with a single volume.")
        try:
            v = volumes.load(session, ctx, boot.volume_id)
        except NotFound:
            raise BadRequest(f"Volume {boot.volume_id} could not be found.") from None
        if v.status != "available":
            raise BadRequest(
                f"Invalid volume: Volume {v.id} status must be available, but the status "
                f"is {v.status}."
            )
        image_id = (v.image_metadata or {}).get("image_id")
        image = session.get(Image, image_id) if image_id else None
        if image is None:
            raise BadRequest(
                f"Volume {v.id} is not bootable here: a server boots from a volume made "
                "from an image (the image's kernel and initramfs start it)."
            )
        return image, v
    assert boot.image_id is not None
    image = images.load(session, ctx, boot.image_id)
    images.check_size(image, boot.size or images.min_size(image))
    return image, None


def attach_root(
    uow: UnitOfWork,
    settings: Settings,
    ctx: RequestContext,
    server: Server,
    boot: BootVolume,
    image: Image,
    existing: Volume | None,
) -> None:
    """The root volume of a placed server: the existing one, or a new one
    made from the image (the attachment waits, ``attaching``, until its
    storage host has written it)."""
    from kumo.compute.microversion import parse as version
    from kumo.volume import attachments, events, volumes

    s = uow.session
    if existing is not None:
        v = volumes.load(s, ctx, existing.id, lock=True)
        if v.status != "available":
            raise BadRequest(f"Invalid volume: Volume {v.id} is {v.status}, not available.")
    else:
        wanted: dict[str, Any] = {"imageRef": image.id, "name": ""}
        if boot.size is not None:
            wanted["size"] = boot.size
        v = volumes.create(uow, settings, ctx, {"volume": wanted}, version("3.0"))
    a = VolumeAttachment(
        volume_id=v.id,
        project_id=v.project_id,
        instance_uuid=server.id,
        attach_status="attaching",
        attach_mode="rw",
        connector={"host": server.host, "mountpoint": ROOT_DEVICE, "instance": server.id},
        attached_host=server.host,
        mountpoint=ROOT_DEVICE,
        boot_index=0,
        delete_on_termination=boot.delete_on_termination,
    )
    s.add(a)
    s.flush()
    if v.status == "available":
        attachments.mark_attached(uow, v, a)
    elif v.status == "error":
        fail(s, server, v.id)
    else:
        v.updated_at = utcnow()
        events.attachment_changed(uow, a, v)


def fail(session: Session, server: Server, volume_id: str) -> None:
    server.vm_state = "error"
    server.power_state = 0
    server.fault = {
        "code": 500,
        "created": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "message": BUILD_FAILED.format(server=server.id, volume=volume_id),
        "details": "",
    }


def volume_made(uow: UnitOfWork, v: Volume) -> None:
    """A volume's storage host has made it (``available``) or failed
    (``error``): a server waiting to boot from it boots, or fails."""
    from kumo.compute import server_events
    from kumo.volume import attachments

    s = uow.session
    for a in s.scalars(
        select(VolumeAttachment).where(
            VolumeAttachment.volume_id == v.id, VolumeAttachment.boot_index == 0
        )
    ):
        server = s.get(Server, a.instance_uuid) if a.instance_uuid else None
        if server is None:
            continue
        if v.status == "available" and a.attach_status == "attaching":
            attachments.mark_attached(uow, v, a)
        elif v.status == "error":
            fail(s, server, v.id)
        server.updated_at = utcnow()
        server_events.emit(uow, server)


def root_of(session: Session, server_id: str) -> tuple[VolumeAttachment, Volume] | None:
    row = session.execute(
        select(VolumeAttachment, Volume)
        .join(Volume, Volume.id == VolumeAttachment.volume_id)
        .where(VolumeAttachment.instance_uuid == server_id, VolumeAttachment.boot_index == 0)
    ).first()
    return (row[0], row[1]) if row is not None else None


def image_of(session: Session, server: Server) -> Image | None:
    """The image a server runs: its own, or its root volume's."""
    if server.image_id:
        return session.get(Image, server.image_id)
    root = root_of(session, server.id)
    image_id = (root[1].image_metadata or {}).get("image_id") if root else None
    return session.get(Image, image_id) if image_id else None


def root_body(session: Session, server: Server) -> dict[str, Any] | None:
    """What the compute host needs of the root volume: its NBD export, once
    the volume is there (``ready``)."""
    from kumo.volume.events import attachment_body

    root = root_of(session, server.id)
    if root is None:
        return None
    a, v = root
    body = attachment_body(session, a, v)
    return {
        "volume_id": v.id,
        "attachment_id": a.id,
        "ready": a.attach_status == "attached" and bool(body["export"]["address"]),
        "export": body["export"],
    }


def release_root(uow: UnitOfWork, a: VolumeAttachment, v: Volume) -> None:
    """The server is gone: a root volume marked ``delete_on_termination`` goes too."""
    from kumo.volume import volumes

    if a.boot_index != 0 or not a.delete_on_termination:
        return
    if v.status in volumes.DELETABLE or v.status == "creating":
        volumes.start_delete(uow, v)
