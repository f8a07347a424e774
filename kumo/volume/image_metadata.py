"""A volume's image metadata (``volume_image_metadata``: the properties of
the image it was made from) through the volume actions
``os-set_image_metadata``, ``os-unset_image_metadata`` and
``os-show_image_metadata``.

Changing ``image_id`` does not lend anyone an image: a server booted from
the volume takes its kernel and initramfs from that image only if the
booting user may see it (``kumo.compute.block_devices``)."""

from __future__ import annotations

from typing import Any

from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest, NotFound
from kumo.policy import authorize
from kumo.volume import common, volumes

ACTIONS = ("os-set_image_metadata", "os-unset_image_metadata", "os-show_image_metadata")


def run(
    uow: UnitOfWork, ctx: RequestContext, volume_id: str, action: str, data: Any
) -> dict[str, Any] | None:
    """The action's answer: the metadata (set, show) or none (unset)."""
    v = volumes.load(uow.session, ctx, volume_id, lock=action != "os-show_image_metadata")
    current = dict(v.image_metadata or {})
    if action == "os-show_image_metadata":
        authorize(ctx, "volume_extension:volume_image_metadata:show", volumes.target(v))
        return {"metadata": current}
    if action == "os-set_image_metadata":
        authorize(ctx, "volume_extension:volume_image_metadata:set", volumes.target(v))
        given = data.get("metadata") if isinstance(data, dict) else None
        if not isinstance(given, dict):
            raise BadRequest("Malformed request body: expected {'metadata': {...}}.")
        v.image_metadata = {**current, **common.metadata(given)}
        v.updated_at = utcnow()
        return {"metadata": dict(v.image_metadata)}
    authorize(ctx, "volume_extension:volume_image_metadata:remove", volumes.target(v))
    key = data.get("key") if isinstance(data, dict) else None
    if not isinstance(key, str) or not key:
        raise BadRequest("Malformed request body: expected {'key': ...}.")
    if key not in current:
        raise NotFound(f"Glance metadata for volume {v.id} with key {key} was not found.",
                       kind="GlanceMetadataNotFound")  # fmt: skip
    del current[key]
    v.image_metadata = current
    v.updated_at = utcnow()
    return None
