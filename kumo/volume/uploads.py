"""``os-volume_upload_image``: a volume's data into a new image of the image API.

The action makes the image record at once, as the requester (``queued``,
owned by the requester's project, with the volume's image
properties, ``min_disk`` the volume's size), records what the requester
lends for the upload (``VolumeImageUpload``: user, project, roles, like a
Keystone trust limited to this image) and moves the volume to
``uploading`` with the task ``upload`` (the image, its disk format, the
status to go back to). An ``in-use`` volume is uploaded only with
``force``, from a point-in-time copy its storage daemon takes while the
server keeps writing.

The volume's storage agent converts the data into the image's disk format
and streams it to ``PUT /internal/v1/volume-uploads/{image_id}/file``.
That route admits only the agent of the volume's storage host
(``internal:upload_volume``) and writes through the image service with
the requester's delegated context (``delegated``): the upload rule, the
image quota and the ``queued -> saving -> active`` status machine apply as
if the user uploaded it; never an admin context. When the upload ends,
either way (``end``), the record goes, the volume goes back to
``available`` or ``in-use``, and the image of a failed upload is
``killed`` (``DELETE`` on the same path: the agent could not read the
data), with a user message on the volume saying why.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.compute.microversion import Version, parse
from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.uow import UnitOfWork
from kumo.db.volume_models import (
    Volume,
    VolumeAttachment,
    VolumeEncryptionType,
    VolumeImageUpload,
    VolumeType,
)
from kumo.errors import BadRequest, Forbidden, NotFound
from kumo.identity import agent_credentials
from kumo.image import images
from kumo.policy import authorize
from kumo.volume import common, events, messages, types
from kumo.volume.common import InvalidState

ACTION = "os-volume_upload_image"
RULE = "volume_extension:volume_actions:upload_image"
PUBLIC_RULE = "volume_extension:volume_actions:upload_public"
AGENT_RULE = "internal:upload_volume"
TASK = "upload"
DISK_FORMATS = {"raw": "raw", "qcow2": "qcow2", "vmdk": "vmdk", "vdi": "vdi", "vhdx": "vhdx",
                "vhd": "vpc"}  # fmt: skip
"""The image disk formats the storage agent writes, and qemu-img's name for each."""
CONTAINER_FORMATS = ("bare",)
"""The data is a plain disk: no container around it."""
V_VISIBILITY = parse("3.1")
KEPT_OUT = {"image_id", "image_name"}
"""Image metadata of the volume not carried to the new image (besides Glance's core
fields): it names the volume's source, not the new image."""


class UploadGone(NotFound):
    kind = "itemNotFound"


def _fields(data: Any, version: Version) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BadRequest(f"Invalid input for {ACTION}: an object is expected.")
    name = data.get("image_name")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise BadRequest(f"Invalid input for field/attribute image_name: {ACTION} needs an "
                         "image_name of 1 to 255 characters.")  # fmt: skip
    disk_format = data.get("disk_format", "raw")
    if disk_format not in DISK_FORMATS:
        raise BadRequest(
            f"Invalid disk-format '{common.shown(disk_format)}' specified. Allowed disk-formats "
            f"are {', '.join(DISK_FORMATS)}."
        )
    container_format = data.get("container_format", "bare")
    if container_format not in CONTAINER_FORMATS:
        raise BadRequest(
            f"Invalid container-format '{common.shown(container_format)}' specified. Allowed "
            f"container-formats are {', '.join(CONTAINER_FORMATS)}."
        )
    out = {
        "name": name,
        "disk_format": disk_format,
        "container_format": container_format,
        "force": common.boolean(data.get("force", False), "force"),
        "visibility": "private",
        "protected": False,
    }
    if version >= V_VISIBILITY:
        out["visibility"] = data.get("visibility", "private")
        if out["visibility"] not in images.VISIBILITIES:
            raise BadRequest(f"Invalid visibility value: {common.shown(out['visibility'])}")
        out["protected"] = common.boolean(data.get("protected", False), "protected")
    return out


def _properties(v: Volume) -> dict[str, str]:
    return {
        str(k): str(val)
        for k, val in (v.image_metadata or {}).items()
        if k not in images.CORE and k not in KEPT_OUT
    }


def fields(ctx: RequestContext, data: Any, version: Version) -> dict[str, Any]:
    """The request's fields, checked before the volume is read: a public
    image needs ``upload_public`` in the caller's project, where the image
    is made (403 whichever volume it names)."""
    f = _fields(data, version)
    if f["visibility"] == "public":
        authorize(ctx, PUBLIC_RULE, {"project_id": ctx.project_id})
    return f


def request(uow: UnitOfWork, ctx: RequestContext, v: Volume, f: dict[str, Any]) -> dict[str, Any]:
    """Start an upload of ``v`` (``f``: from ``fields``); the action's answer
    (Cinder's body)."""
    authorize(ctx, RULE, {"project_id": v.project_id})
    s = uow.session
    if v.status == "in-use" and not f["force"]:
        raise InvalidState(
            f"Invalid volume: Volume {v.id} status must be available to upload, but current "
            "status is in-use (pass force to upload a point-in-time copy of an in-use volume)."
        )
    if v.status not in ("available", "in-use"):
        raise InvalidState(
            f"Invalid volume: Volume {v.id} status must be available or in-use, but current "
            f"status is: {v.status}."
        )
    if v.storage_host is None:
        raise InvalidState(f"Invalid volume: Volume {v.id} was never placed on a storage host.")
    if s.scalar(select(VolumeEncryptionType).where(
            VolumeEncryptionType.volume_type_id == v.volume_type_id)) is not None:  # fmt: skip
        raise InvalidState(
            f"Invalid volume: Volume {v.id} is encrypted; this backend does not upload "
            "encrypted volumes to images."
        )
    body: dict[str, Any] = {
        **_properties(v),
        "name": f["name"],
        "visibility": f["visibility"],
        "protected": f["protected"],
        "container_format": f["container_format"],
        "disk_format": f["disk_format"],
        "min_disk": v.size,
    }
    image = images.create(uow, ctx, body)
    s.add(
        VolumeImageUpload(
            image_id=image.id,
            volume_id=v.id,
            user_id=ctx.user_id,
            project_id=ctx.project_id or "",
            roles=sorted(ctx.roles),
        )
    )
    v.task = {
        "op": TASK,
        "image_id": image.id,
        "disk_format": DISK_FORMATS[f["disk_format"]],
        "previous_status": v.status,
    }
    v.status, v.held = "uploading", False
    v.updated_at = utcnow()
    events.volume_changed(uow, v)
    vtype = s.get(VolumeType, v.volume_type_id)
    return {
        ACTION: {
            "id": v.id,
            "updated_at": common.stamp(v.updated_at),
            "status": v.status,
            "display_description": v.description,
            "size": v.size,
            "volume_type": types.view(vtype) if vtype is not None else None,
            "image_id": image.id,
            "container_format": image.container_format,
            "disk_format": image.disk_format,
            "image_name": image.name,
            "visibility": image.visibility,
            "protected": image.protected,
        }
    }


def _lent(s: Session, up: VolumeImageUpload) -> RequestContext | None:
    from kumo.compute.snapshots import lent_context

    return lent_context(s, up.user_id, up.project_id, list(up.roles or []))


def delegated(uow: UnitOfWork, ctx: RequestContext, image_id: str) -> RequestContext:
    """For the agent of the volume's storage host: the requester's context
    for this upload (its roles narrowed to those it still holds). 403 for
    any other caller; 404 when no upload into this image is under way."""
    s = uow.session
    up = s.get(VolumeImageUpload, image_id)
    v = s.get(Volume, up.volume_id) if up is not None else None
    if up is None or v is None:
        raise UploadGone(f"No upload of a volume into image {image_id} is under way.")
    agent_credentials.authorize_hosts(s, ctx, [v.storage_host or ""], AGENT_RULE)
    found = _lent(s, up)
    if found is None:
        raise Forbidden("The upload's requester can no longer upload images to its project.")
    return found


def end(uow: UnitOfWork, ctx: RequestContext, image_id: str, ok: bool, error: str = "") -> None:
    """The upload is over: the record goes, the volume goes back to the
    status it had (``in-use`` if it is still attached), and the image of a
    failed upload is ``killed`` unless it became active."""
    s = uow.session
    up = s.get(VolumeImageUpload, image_id, with_for_update=True)
    if up is None:
        raise UploadGone(f"No upload of a volume into image {image_id} is under way.")
    v = s.get(Volume, up.volume_id, with_for_update=True)
    agent_credentials.authorize_hosts(s, ctx, [(v.storage_host or "") if v else ""], AGENT_RULE)
    s.delete(up)
    if not ok:
        images.kill_unfinished(s, image_id)
    if v is None or v.status != "uploading" or (v.task or {}).get("image_id") != image_id:
        return
    attached = s.scalar(
        select(VolumeAttachment.id).where(VolumeAttachment.volume_id == v.id).limit(1)
    )
    v.status = "in-use" if attached is not None else "available"
    v.task = {}
    v.updated_at = utcnow()
    events.volume_changed(uow, v)
    if not ok:
        why = error or "the storage host could not read its data"
        text = f"Uploading the volume to image {image_id} failed: {why}"
        messages.record(uow, v.project_id, "VOLUME", v.id, messages.COPY_VOLUME_TO_IMAGE,
                        text[:1000])  # fmt: skip
