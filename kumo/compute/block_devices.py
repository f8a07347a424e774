"""Block device mappings on server create (``block_device_mapping_v2``, or
the ``block_device_mapping`` property of an image made by ``createImage``
of a volume-backed server) and the volumes of a server booted from one.

Accepted mappings (what ``openstack server create`` sends):

- ``source_type=image, destination_type=local`` (``--image``): the usual
  local root disk, the same as ``imageRef``;
- ``source_type=volume, destination_type=volume`` (``--volume``, or
  ``--block-device`` with ``boot_index`` unset for a data disk): an
  existing ``available`` volume;
- ``source_type=image, destination_type=volume`` (``--image ...
  --boot-from-volume SIZE``): a new volume of ``volume_size`` GiB made from
  the image;
- ``source_type=snapshot, destination_type=volume``: a new volume made
  from a volume snapshot (at least the snapshot's size);
- ``source_type=blank, destination_type=volume``: a new empty volume of
  ``volume_size`` GiB, as a data disk only (nothing boots from it).

``source_type=blank, destination_type=local`` (ephemeral and swap disks)
is refused: the QEMU driver gives a server its root disk only.

The mapping with ``boot_index`` 0, if any, is the root volume: the
server's attachment with device ``/dev/vda``, opened by the compute host
as the VM's root disk over NBD (never hot-plugged); ``imageRef`` is then
empty and the server's view shows ``image: ""`` as Nova does. The other
mappings are data disks (``/dev/vdb`` on, or their ``device_name``),
plugged like any attached volume. A new volume attaches (``attaching``)
once its storage host has written it. The VM's kernel and initramfs come
from the image the root volume was made from (its
``volume_image_metadata``, which volumes made from snapshots keep), so only
volumes made from an image are bootable here. ``delete_on_termination``
deletes a volume with the server; otherwise it is ``available`` again once
the server is gone. A volume that fails to be made puts the server in
``ERROR``.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.compute_models import Image, Server
from kumo.db.uow import UnitOfWork
from kumo.db.volume_models import Snapshot, Volume, VolumeAttachment
from kumo.errors import BadRequest, NotFound, shown

ROOT_DEVICE = "/dev/vda"
BUILD_FAILED = "Build of instance {server} aborted: Volume {volume} did not finish being created."
SOURCES = ("image", "volume", "snapshot", "blank")
BAD_SEQUENCE = (
    "Block Device Mapping is Invalid: Boot sequence for the instance and image/block device "
    "mapping combination is not valid."
)


@dataclass(frozen=True)
class Mapping:
    """One volume asked for: an existing one (``volume``), or one to make
    from an image, a snapshot or nothing (``blank``)."""

    source: str
    uuid: str | None = None
    size: int | None = None
    boot: bool = False
    delete_on_termination: bool = False
    device: str | None = None

    @property
    def volume_id(self) -> str | None:
        return self.uuid if self.source == "volume" else None


@dataclass(frozen=True)
class Mappings:
    """The root volume (None: a local root disk from ``imageRef``) and the data volumes."""

    root: Mapping | None = None
    data: tuple[Mapping, ...] = ()

    def __bool__(self) -> bool:
        return self.root is not None or bool(self.data)


@dataclass(frozen=True)
class Checked:
    """What ``check`` found: the image the server boots and the existing
    volumes it takes, by id."""

    image: Image
    existing: dict[str, Volume]


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


def _size(value: Any, raw: Any) -> int | None:
    if value is None:
        return None
    try:
        size = int(value)
    except (TypeError, ValueError):
        raise _bad(raw) from None
    if size < 0:
        raise _bad(raw)
    return size or None


def _boot_index(value: Any, raw: Any) -> bool:
    if value is None or value == "None":
        return False
    try:
        index = int(value)
    except (TypeError, ValueError):
        raise _bad(raw) from None
    return index == 0


def _one(bdm: dict[str, Any], raw: Any) -> Mapping | None:
    source = bdm.get("source_type")
    destination = bdm.get("destination_type", "local" if source in ("image", None) else None)
    if source is not None and source not in SOURCES:
        raise _bad(raw)
    if destination not in ("local", "volume"):
        raise _bad(raw)
    boot = _boot_index(bdm.get("boot_index"), raw)
    if destination == "local":
        if source in ("image", None):
            return None  # the root disk from imageRef
        raise BadRequest(
            f"Block device mapping source_type={source} destination_type=local is not "
            "supported here: a server gets no ephemeral or swap disk (give it a blank volume, "
            "destination_type=volume)."
        )
    size = _size(bdm.get("volume_size"), raw)
    uuid = bdm.get("uuid")
    if source == "blank":
        if boot:
            raise BadRequest(BAD_SEQUENCE)
        if size is None:
            raise BadRequest(
                "Blank volumes (source: 'blank', dest: 'volume') need to have non-zero size"
            )
        uuid = None
    elif not isinstance(uuid, str) or not uuid:
        raise _bad(raw)
    device = bdm.get("device_name")
    if device is not None and (not isinstance(device, str) or not device.startswith("/dev/")):
        raise BadRequest(f"The supplied device path ({device}) is invalid.")
    return Mapping(
        source=source or "image",
        uuid=uuid,
        size=size,
        boot=boot,
        delete_on_termination=_flag(bdm.get("delete_on_termination", False), raw),
        device=None if boot else device,
    )


def parse(raw: Any) -> Mappings:
    """The volumes the mappings ask for (empty: a local root disk only)."""
    if raw is None:
        return Mappings()
    if not isinstance(raw, list):
        raise _bad(raw)
    root: Mapping | None = None
    data: list[Mapping] = []
    for bdm in raw:
        if not isinstance(bdm, dict):
            raise _bad(raw)
        found = _one(bdm, raw)
        if found is None:
            continue
        if found.boot:
            if root is not None:
                raise BadRequest(BAD_SEQUENCE)
            root = found
        else:
            data.append(found)
    devices = [m.device for m in data if m.device]
    if len(devices) != len(set(devices)) or ROOT_DEVICE in devices:
        raise BadRequest("The supplied device path is in use.")
    return Mappings(root, tuple(data))


def from_image(image: Image) -> Mappings:
    """The mappings an image carries (``createImage`` of a volume-backed
    server stores them as ``block_device_mapping``, snapshots of its volumes)."""
    props = image.properties or {}
    text = props.get("block_device_mapping")
    if not text:
        return Mappings()
    try:
        items = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        raise BadRequest(f"Image {image.id} has a malformed block_device_mapping.") from None
    if not isinstance(items, list):
        raise BadRequest(f"Image {image.id} has a malformed block_device_mapping.")
    out = []
    for item in items:
        if not isinstance(item, dict):
            continue
        bdm = dict(item)
        if not bdm.get("uuid"):
            key = {"snapshot": "snapshot_id", "volume": "volume_id", "image": "image_id"}
            bdm["uuid"] = bdm.get(key.get(str(bdm.get("source_type")), ""))
        out.append(bdm)
    return parse(out)


def _volume(session: Session, ctx: RequestContext, volume_id: str, max_count: int) -> Volume:
    from kumo.volume import volumes

    if max_count > 1:
        raise BadRequest("Unable to launch multiple instances with a single volume.")
    try:
        v = volumes.load(session, ctx, volume_id)
    except NotFound:
        raise BadRequest(f"Volume {volume_id} could not be found.") from None
    if v.status != "available":
        raise BadRequest(
            f"Invalid volume: Volume {v.id} status must be available, but the status is {v.status}."
        )
    return v


def _snapshot(session: Session, ctx: RequestContext, m: Mapping) -> Snapshot:
    from kumo.volume import snapshots

    assert m.uuid is not None
    try:
        snap = snapshots.load(session, ctx, m.uuid)
    except NotFound:
        raise BadRequest(f"Snapshot {m.uuid} could not be found.") from None
    if snap.status != "available":
        raise BadRequest(
            f"Invalid snapshot: Snapshot {snap.id} status must be available, but the status "
            f"is {snap.status}."
        )
    if m.size is not None and m.size < snap.size:
        raise BadRequest(
            f"Invalid input received: Volume size '{m.size}'GB cannot be smaller than the "
            f"snapshot size {snap.size}GB."
        )
    return snap


def _bootable(session: Session, ctx: RequestContext, v: Volume | None, what: str) -> Image:
    """The image whose kernel and initramfs boot the volume: the one it was
    made from, if the caller may see it (image metadata can be set by hand)."""
    from kumo.image import access

    image_id = ((v.image_metadata if v is not None else None) or {}).get("image_id")
    image = session.get(Image, image_id) if image_id else None
    if image is None or not access.visible(session, ctx, image):
        raise BadRequest(
            f"{what} is not bootable here: a server boots from a volume made from an image "
            "(the image's kernel and initramfs start it)."
        )
    return image


def check(
    session: Session, ctx: RequestContext, mappings: Mappings, max_count: int, image: Image | None
) -> Checked:
    """The image the server boots (its kernel, initramfs, driver and
    minimums: ``image`` for a local root disk) and the existing volumes,
    checked before anything is made."""
    from kumo.volume import images

    existing: dict[str, Volume] = {}
    for m in (mappings.root, *mappings.data):
        if m is None:
            continue
        if m.source == "volume":
            assert m.uuid is not None
            if m.uuid in existing:
                raise BadRequest(f"Invalid volume: volume {m.uuid} is mapped twice.")
            existing[m.uuid] = _volume(session, ctx, m.uuid, max_count)
        elif m.source == "snapshot":
            _snapshot(session, ctx, m)
        elif m.source == "image":
            found = images.load(session, ctx, m.uuid)
            images.check_size(found, m.size or images.min_size(found))
    root = mappings.root
    if root is None:
        assert image is not None
        return Checked(image, existing)
    assert root.uuid is not None
    if root.source == "volume":
        found = _bootable(session, ctx, existing[root.uuid], f"Volume {root.uuid}")
        return Checked(found, existing)
    if root.source == "snapshot":
        snap = _snapshot(session, ctx, root)
        origin = session.get(Volume, snap.volume_id)
        return Checked(_bootable(session, ctx, origin, f"Snapshot {snap.id}"), existing)
    return Checked(images.load(session, ctx, root.uuid), existing)


def attach(
    uow: UnitOfWork,
    settings: Settings,
    ctx: RequestContext,
    server: Server,
    mappings: Mappings,
) -> None:
    """The volumes of a placed server: the root one at ``/dev/vda``, the
    others on the next free devices."""
    if mappings.root is not None:
        _attach(uow, settings, ctx, server, mappings.root, ROOT_DEVICE)
    taken = [ROOT_DEVICE, *(m.device for m in mappings.data if m.device)]
    for m in mappings.data:
        device = m.device
        if device is None:
            device = next(
                f"/dev/vd{c}" for c in string.ascii_lowercase[1:] if f"/dev/vd{c}" not in taken
            )
            taken.append(device)
        _attach(uow, settings, ctx, server, m, device)


def _attach(
    uow: UnitOfWork,
    settings: Settings,
    ctx: RequestContext,
    server: Server,
    m: Mapping,
    device: str,
) -> None:
    """One volume of the server: the existing one, or a new one (the
    attachment waits, ``attaching``, until its storage host has written it)."""
    from kumo.compute.microversion import parse as version
    from kumo.volume import attachments, events, volumes

    s = uow.session
    if m.source == "volume":
        assert m.uuid is not None
        v = volumes.load(s, ctx, m.uuid, lock=True)
        if v.status != "available":
            raise BadRequest(f"Invalid volume: Volume {v.id} is {v.status}, not available.")
    else:
        wanted: dict[str, Any] = {"name": ""}
        if m.source == "image":
            wanted["imageRef"] = m.uuid
        elif m.source == "snapshot":
            wanted["snapshot_id"] = m.uuid
        if m.size is not None:
            wanted["size"] = m.size
        v = volumes.create(uow, settings, ctx, {"volume": wanted}, version("3.0"))
    a = VolumeAttachment(
        volume_id=v.id,
        project_id=v.project_id,
        instance_uuid=server.id,
        attach_status="attaching",
        attach_mode="rw",
        connector={"host": server.host, "mountpoint": device, "instance": server.id},
        attached_host=server.host,
        mountpoint=device,
        boot_index=0 if m.boot else None,
        delete_on_termination=m.delete_on_termination,
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
    (``error``): a server waiting for it (to boot from it, or to get it as a
    data disk) gets it, or fails."""
    from kumo.compute import server_events
    from kumo.volume import attachments

    s = uow.session
    for a in s.scalars(select(VolumeAttachment).where(VolumeAttachment.volume_id == v.id)):
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
    """The server is gone: a volume it was given marked ``delete_on_termination`` goes too."""
    from kumo.volume import volumes

    if not a.delete_on_termination:
        return
    if v.status in volumes.DELETABLE or v.status == "creating":
        volumes.start_delete(uow, v)
