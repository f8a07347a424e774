"""Images: the shipped ``busybox``, list/show with Glance filters, create, upload, delete."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.compute.common import MAX_INT, truthy
from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.compute_models import Image
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest, Conflict, Forbidden, NotFound, shown

BUSYBOX_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "kumo:image:busybox"))
BUSYBOX_PROPERTIES = {
    "description": "A network namespace instance running busybox services: httpd on port 80 "
    "and a shell.",
    "kumo_instance_type": "namespace",
    "kumo_program": "busybox",
    "kumo_services": "httpd:80,sh",
}
CORE = {
    "id", "name", "status", "visibility", "protected", "os_hidden", "checksum", "owner", "size",
    "virtual_size", "min_ram", "min_disk", "container_format", "disk_format", "created_at",
    "updated_at", "tags", "self", "file", "schema", "direct_url", "locations",
    "os_hash_algo", "os_hash_value",
}  # fmt: skip
READ_ONLY = {
    "id", "status", "checksum", "size", "virtual_size", "created_at", "updated_at", "self",
    "file", "schema", "direct_url", "locations", "os_hash_algo", "os_hash_value",
}  # fmt: skip
VISIBILITIES = ("public", "private", "shared", "community")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
DISK_FORMATS = (
    "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop",
)  # fmt: skip


def not_found(image_id: str) -> NotFound:
    return NotFound(f"No image found with ID {image_id}", kind="ImageNotFound")


def ensure_defaults(session: Session) -> None:
    if session.get(Image, BUSYBOX_ID) is not None:
        return
    session.add(
        Image(
            id=BUSYBOX_ID,
            name="busybox",
            owner=None,
            status="active",
            visibility="public",
            protected=True,
            container_format="bare",
            disk_format="raw",
            size=0,
            checksum=hashlib.md5(b"", usedforsecurity=False).hexdigest(),
            os_hash_algo="sha512",
            os_hash_value=hashlib.sha512(b"").hexdigest(),
            properties=dict(BUSYBOX_PROPERTIES),
            tags=[],
        )
    )
    session.flush()


def visible(ctx: RequestContext, image: Image) -> bool:
    return (
        ctx.is_admin
        or image.visibility in ("public", "community")
        or (image.owner is not None and image.owner == ctx.project_id)
    )


def load(session: Session, ctx: RequestContext, image_id: str) -> Image:
    image = session.get(Image, image_id)
    if image is None or not visible(ctx, image):
        raise not_found(image_id)
    return image


def listing(session: Session, ctx: RequestContext, params: dict[str, str]) -> list[Image]:
    q = select(Image)
    if "name" in params:
        q = q.where(Image.name == params["name"])
    if "status" in params:
        q = q.where(Image.status == params["status"].lower())
    if "owner" in params:
        q = q.where(Image.owner == params["owner"])
    wanted = params.get("visibility")
    if wanted is not None:
        if wanted not in (*VISIBILITIES, "all"):
            raise BadRequest(f"Invalid visibility value: {wanted}")
        if wanted != "all":
            q = q.where(Image.visibility == wanted)
    if "os_hidden" in params:
        q = q.where(Image.os_hidden == bool(truthy(params["os_hidden"])))
    else:
        q = q.where(Image.os_hidden.is_(False))
    for key in ("container_format", "disk_format"):
        if key in params:
            q = q.where(getattr(Image, key) == params[key])
    sort_key = params.get("sort_key", "created_at")
    if sort_key not in ("created_at", "updated_at", "name", "id", "status", "size"):
        raise BadRequest(f"Invalid sort key: {sort_key}")
    column = getattr(Image, sort_key)
    desc = params.get("sort_dir", "desc").lower() == "desc"
    rows = [
        i
        for i in session.scalars(
            q.order_by(column.desc() if desc else column, Image.id.desc() if desc else Image.id)
        )
        if visible(ctx, i)
    ]
    if wanted is None:
        # By default a project sees public, its own and shared images; community
        # images only when asked for.
        rows = [i for i in rows if i.visibility != "community" or i.owner == ctx.project_id]
    if "tag" in params:
        rows = [i for i in rows if params["tag"] in (i.tags or [])]
    return rows


def create(uow: UnitOfWork, ctx: RequestContext, body: Any) -> Image:
    if not isinstance(body, dict):
        raise BadRequest("Body expected in request.")
    bad = sorted(READ_ONLY & set(body) - {"id"})
    if bad:
        raise Forbidden(f"Attribute '{bad[0]}' is read-only.")
    visibility = body.get("visibility", "shared")
    if visibility not in VISIBILITIES:
        raise BadRequest(f"Invalid visibility value: {visibility}")
    if visibility == "public" and not ctx.is_admin:
        raise Forbidden("You are not authorized to complete publicize_image action.")
    container_format = _format(body.get("container_format"), "container_format", CONTAINER_FORMATS)
    disk_format = _format(body.get("disk_format"), "disk_format", DISK_FORMATS)
    name = _name(body.get("name"))
    ident = body.get("id") or str(uuid.uuid4())
    try:
        ident = str(uuid.UUID(str(ident)))
    except ValueError:
        raise BadRequest(f"{shown(ident)} is not a valid UUID") from None
    s = uow.session
    if s.get(Image, ident) is not None:
        raise Conflict(f"Image with identifier {ident} already exists!")
    tags = _tags(body.get("tags"))
    min_disk = _minimum(body.get("min_disk"), "min_disk")
    min_ram = _minimum(body.get("min_ram"), "min_ram")
    properties = {k: v for k, v in body.items() if k not in CORE}
    for key, value in properties.items():
        if not isinstance(value, str):
            raise BadRequest(f"Property {key} must be a string")
    image = Image(
        id=ident,
        name=name,
        owner=ctx.project_id,
        status="queued",
        visibility=visibility,
        protected=bool(body.get("protected", False)),
        os_hidden=bool(body.get("os_hidden", False)),
        container_format=container_format,
        disk_format=disk_format,
        min_disk=min_disk,
        min_ram=min_ram,
        properties=properties,
        tags=tags,
    )
    s.add(image)
    s.flush()
    return image


def _minimum(value: Any, field: str) -> int:
    """A ``min_ram``/``min_disk`` value: a JSON integer from 0 to ``MAX_INT`` (``None`` is 0)."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT:
        raise BadRequest(f"Invalid value for {field}: must be an integer from 0 to {MAX_INT}")
    return value


def _format(value: Any, field: str, allowed: tuple[str, ...]) -> str | None:
    if value is not None and value not in allowed:
        raise BadRequest(f"Invalid value '{shown(value)}' for {field}")
    return None if value is None else str(value)


def _name(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or len(value) > 255):
        raise BadRequest("Invalid value for name")
    return value


def _tags(value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise BadRequest("Invalid tags: expected a list of strings")
    return sorted(set(value))


def _flag(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise BadRequest(f"Invalid value for {field}: must be a boolean")
    return value


def _writable(ctx: RequestContext, image: Image) -> None:
    if not (ctx.is_admin or (image.owner is not None and image.owner == ctx.project_id)):
        raise Forbidden("You are not permitted to modify this image.")


def upload(uow: UnitOfWork, ctx: RequestContext, image_id: str, data: bytes) -> None:
    image = load(uow.session, ctx, image_id)
    _writable(ctx, image)
    if image.status not in ("queued", "saving"):
        raise Conflict("Image status transition from active to saving is not allowed")
    if image.container_format is None or image.disk_format is None:
        raise BadRequest(
            "Properties disk_format, container_format must be set prior to saving data."
        )
    image.size = len(data)
    image.checksum = hashlib.md5(data, usedforsecurity=False).hexdigest()
    image.os_hash_algo = "sha512"
    image.os_hash_value = hashlib.sha512(data).hexdigest()
    image.status = "active"
    image.updated_at = utcnow()


def update(uow: UnitOfWork, ctx: RequestContext, image_id: str, patch: Any) -> Image:
    """A JSON patch (``add``/``replace``/``remove`` on top-level attributes)."""
    image = load(uow.session, ctx, image_id)
    _writable(ctx, image)
    if not isinstance(patch, list):
        raise BadRequest("Request body must be a JSON array of operation objects.")
    props = dict(image.properties or {})
    for op in patch:
        if not isinstance(op, dict) or op.get("op") not in ("add", "replace", "remove"):
            raise BadRequest("Operations must be JSON objects with op add, replace or remove.")
        path = str(op.get("path", "")).lstrip("/")
        if path in READ_ONLY:
            raise Forbidden(f"Attribute '{path}' is read-only.")
        value = op.get("value")
        if op["op"] == "remove":
            if path in CORE:
                raise Forbidden(f"Attribute '{path}' is reserved.")
            if path not in props:
                raise Conflict(f"Property {path} does not exist.")
            del props[path]
        elif path == "visibility":
            if value not in VISIBILITIES:
                raise BadRequest(f"Invalid visibility value: {value}")
            if value == "public" and not ctx.is_admin:
                raise Forbidden("You are not authorized to complete publicize_image action.")
            image.visibility = value
        elif path == "tags":
            image.tags = _tags(value)
        elif path == "name":
            image.name = _name(value)
        elif path == "container_format":
            image.container_format = _format(value, path, CONTAINER_FORMATS)
        elif path == "disk_format":
            image.disk_format = _format(value, path, DISK_FORMATS)
        elif path in ("protected", "os_hidden"):
            setattr(image, path, _flag(value, path))
        elif path in ("min_ram", "min_disk"):
            setattr(image, path, _minimum(value, path))
        else:
            props[path] = str(value)
    image.properties = props
    image.updated_at = utcnow()
    uow.session.flush()
    return image


def remove(uow: UnitOfWork, ctx: RequestContext, image_id: str) -> None:
    image = load(uow.session, ctx, image_id)
    _writable(ctx, image)
    if image.protected:
        raise Forbidden(f"Image {image_id} is protected and cannot be deleted.")
    uow.session.delete(image)


def _iso(value: Any) -> str:
    return str(value.strftime("%Y-%m-%dT%H:%M:%SZ"))


def view(image: Image) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": image.id,
        "name": image.name,
        "status": image.status,
        "visibility": image.visibility,
        "protected": image.protected,
        "os_hidden": image.os_hidden,
        "checksum": image.checksum,
        "os_hash_algo": image.os_hash_algo,
        "os_hash_value": image.os_hash_value,
        "owner": image.owner,
        "size": image.size,
        "virtual_size": None,
        "min_ram": image.min_ram,
        "min_disk": image.min_disk,
        "container_format": image.container_format,
        "disk_format": image.disk_format,
        "created_at": _iso(image.created_at),
        "updated_at": _iso(image.updated_at),
        "tags": list(image.tags or []),
        "self": f"/v2/images/{image.id}",
        "file": f"/v2/images/{image.id}/file",
        "schema": "/v2/schemas/image",
    }
    for key, value in (image.properties or {}).items():
        out.setdefault(key, value)
    return out
