"""``/images``: Nova's proxy to the Image API (served up to microversion 2.35):
list, detail, show, delete and an image's metadata (its extra properties).

Every call goes through kumo/image with the caller's own context (the
image's visibility and owner rules are the Image API's); only the shapes
are Nova's.
"""

from __future__ import annotations

from typing import Any

from kumo.compute.common import links
from kumo.context import RequestContext
from kumo.errors import BadRequest, NotFound
from kumo.image.service import ImageService

STATUS = {
    "active": "ACTIVE",
    "queued": "SAVING",
    "saving": "SAVING",
    "importing": "SAVING",
    "deleted": "DELETED",
    "pending_delete": "DELETED",
    "killed": "ERROR",
}
PROGRESS = {"ACTIVE": 100, "SAVING": 25}
CORE = {
    "id", "name", "status", "visibility", "protected", "os_hidden", "checksum", "os_hash_algo",
    "os_hash_value", "owner", "size", "virtual_size", "min_ram", "min_disk", "container_format",
    "disk_format", "created_at", "updated_at", "tags", "self", "file", "schema", "locations",
    "direct_url", "stores",
}  # fmt: skip


def _not_found(image_id: str) -> NotFound:
    return NotFound("Image not found.", kind="ImageNotFound")


def metadata(image: dict[str, Any]) -> dict[str, Any]:
    """An image's extra properties: what Nova calls its metadata."""
    return {k: v for k, v in image.items() if k not in CORE}


def view(image: dict[str, Any], base: str, *, detail: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": image["id"],
        "name": image.get("name"),
        "links": links(base, "images", image["id"]),
    }
    if not detail:
        return out
    status = STATUS.get(image.get("status") or "", "UNKNOWN")
    out.update(
        {
            "created": image["created_at"],
            "updated": image["updated_at"],
            "status": status,
            "progress": PROGRESS.get(status, 0),
            "minRam": image.get("min_ram") or 0,
            "minDisk": image.get("min_disk") or 0,
            "metadata": metadata(image),
            "OS-EXT-IMG-SIZE:size": image.get("size"),
        }
    )
    return out


def _meta_body(body: Any, key: str = "metadata") -> dict[str, str]:
    data = body.get(key) if isinstance(body, dict) else None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and 1 <= len(k) <= 255 and isinstance(v, str) and len(v) <= 255
        for k, v in data.items()
    ):
        raise BadRequest(f"Invalid input for field/attribute {key}. Value: {data}.")
    return dict(data)


class ImageProxy:
    def __init__(self, images: ImageService) -> None:
        self.images = images

    def _show(self, ctx: RequestContext, image_id: str) -> dict[str, Any]:
        try:
            return self.images.show_image(ctx, image_id)
        except NotFound:
            raise _not_found(image_id) from None

    def list_images(
        self, ctx: RequestContext, params: dict[str, str], base: str, *, detail: bool
    ) -> list[dict[str, Any]]:
        wanted = {k: params[k] for k in ("name",) if k in params}
        items = self.images.list_images(ctx, wanted)
        out = [view(i, base, detail=True) for i in items]
        if "status" in params:
            out = [i for i in out if i["status"] == params["status"].upper()]
        for key, field in (("minRam", "minRam"), ("minDisk", "minDisk")):
            if key in params:
                try:
                    least = int(params[key])
                except ValueError:
                    raise BadRequest(f"Invalid {key} filter [{params[key]}]") from None
                out = [i for i in out if i[field] >= least]
        if detail:
            return out
        return [{k: i[k] for k in ("id", "name", "links")} for i in out]

    def show(self, ctx: RequestContext, image_id: str, base: str) -> dict[str, Any]:
        return view(self._show(ctx, image_id), base, detail=True)

    def delete(self, ctx: RequestContext, image_id: str) -> None:
        self._show(ctx, image_id)
        self.images.delete_image(ctx, image_id)

    # -- metadata -------------------------------------------------------------------------

    def get_metadata(self, ctx: RequestContext, image_id: str) -> dict[str, Any]:
        return metadata(self._show(ctx, image_id))

    def _patch(self, ctx: RequestContext, image_id: str, ops: list[dict[str, Any]]) -> None:
        if ops:
            self.images.update_image(ctx, image_id, ops)

    def set_metadata(
        self, ctx: RequestContext, image_id: str, body: Any, *, replace: bool
    ) -> dict[str, Any]:
        """POST merges the given keys in; PUT makes them the whole metadata."""
        wanted = _meta_body(body)
        current = metadata(self._show(ctx, image_id))
        ops: list[dict[str, Any]] = []
        if replace:
            ops += [{"op": "remove", "path": f"/{k}"} for k in current if k not in wanted]
        ops += [
            {"op": "replace" if k in current else "add", "path": f"/{k}", "value": v}
            for k, v in wanted.items()
        ]
        self._patch(ctx, image_id, ops)
        return self.get_metadata(ctx, image_id)

    def get_item(self, ctx: RequestContext, image_id: str, key: str) -> dict[str, Any]:
        current = metadata(self._show(ctx, image_id))
        if key not in current:
            raise NotFound(f"Image {image_id} has no metadata key {key}.")
        return {key: current[key]}

    def set_item(self, ctx: RequestContext, image_id: str, key: str, body: Any) -> dict[str, Any]:
        wanted = _meta_body(body, "meta")
        if list(wanted) != [key]:
            raise BadRequest("Request body and URI mismatch")
        current = metadata(self._show(ctx, image_id))
        op = "replace" if key in current else "add"
        self._patch(ctx, image_id, [{"op": op, "path": f"/{key}", "value": wanted[key]}])
        return {key: wanted[key]}

    def delete_item(self, ctx: RequestContext, image_id: str, key: str) -> None:
        self.get_item(ctx, image_id, key)
        self._patch(ctx, image_id, [{"op": "remove", "path": f"/{key}"}])
