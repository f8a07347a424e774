"""Volumes made from images (``imageRef`` on create): a bootable volume.

The image must be one the caller sees and ``active``; the volume must hold
it (at least the image's ``min_disk`` and its data's size). The image's
description is kept on the volume as ``volume_image_metadata`` (what
Cinder shows: ``image_id``, ``image_name``, ``checksum``, the formats, the
minimums, ``size`` and the image's properties, all strings), which is also
how a server booted from the volume finds the kernel and initramfs of the
image (``kumo.compute.block_devices``). The storage agent writes the data
(``task.source`` of kind ``image``): the disk inside a kumo bundle, or the
image's own qcow2 or raw data, converted into the volume's qcow2 file.

Which hosts may download such an image (``needed_by``): the storage host
making a volume from it, and the compute host of a server booted from a
volume made from it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.context import RequestContext
from kumo.db.compute_models import Image, Server
from kumo.db.volume_models import Volume, VolumeAttachment
from kumo.errors import BadRequest
from kumo.image import access

GiB = 1 << 30
FORMATS = ("qcow2", "raw")
"""Disk formats whose data the storage agent writes into a volume (a kumo
bundle, ``container_format=ova``, carries a qcow2 disk)."""


def load(session: Session, ctx: RequestContext, ref: Any) -> Image:
    image_id = str(ref).rstrip("/").rsplit("/", 1)[-1]
    image = session.get(Image, image_id)
    if image is None or not access.visible(session, ctx, image):
        raise BadRequest(f"Invalid image identifier or unable to access requested image {ref}.",
                         kind="ImageNotFound")  # fmt: skip
    if image.status != "active":
        raise BadRequest(f"Image {image_id} is not active.", kind="ImageNotFound")
    if image.disk_format not in FORMATS:
        raise BadRequest(
            f"Image {image_id} has disk format {image.disk_format}; volumes are made from "
            f"{' or '.join(FORMATS)} images."
        )
    return image


def min_size(image: Image) -> int:
    """The smallest volume (GiB) the image fits in."""
    data = -(-(image.size or 0) // GiB)
    return max(image.min_disk or 0, data, 1)


def check_size(image: Image, size: int) -> None:
    if size < min_size(image):
        raise BadRequest(
            f"Invalid input received: Image {image.id} needs a volume of at least "
            f"{min_size(image)}GB (min_disk {image.min_disk}, {image.size} bytes of data); "
            f"{size}GB was asked."
        )


def metadata(image: Image) -> dict[str, str]:
    out = {str(k): str(v) for k, v in (image.properties or {}).items()}
    out.update(
        {
            "image_id": image.id,
            "image_name": image.name or "",
            "checksum": image.checksum or "",
            "container_format": image.container_format or "",
            "disk_format": image.disk_format or "",
            "min_disk": str(image.min_disk or 0),
            "min_ram": str(image.min_ram or 0),
            "size": str(image.size or 0),
        }
    )
    return out


def task_source(image: Image) -> dict[str, str]:
    """What the storage agent needs to fetch and write the data."""
    return {
        "kind": "image",
        "id": image.id,
        "hash": image.os_hash_value or image.checksum or "",
        "container_format": image.container_format or "",
        "disk_format": image.disk_format or "",
    }


def needed_by(session: Session, host: str, image_id: str) -> bool:
    """Whether ``host`` needs the image's data: it makes a volume from it,
    or runs a server booted from a volume made from it."""
    for v in session.scalars(
        select(Volume).where(Volume.storage_host == host, Volume.status == "creating")
    ):
        if (v.task or {}).get("source", {}).get("id") == image_id:
            return True
    rows = session.scalars(
        select(Volume)
        .join(VolumeAttachment, VolumeAttachment.volume_id == Volume.id)
        .join(Server, Server.id == VolumeAttachment.instance_uuid)
        .where(Server.host == host, VolumeAttachment.boot_index == 0)
    )
    return any((v.image_metadata or {}).get("image_id") == image_id for v in rows)
