"""Image records: the shipped ``busybox``, list and show with Glance's filters and
listing rules, create, JSON-patch update, tags, deactivate/reactivate, delete.

Who may do what is the policy table's (``kumo.image.access``); the image's
bytes are the store's (``kumo.image.data``, ``kumo.image.store``).
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kumo.compute.common import MAX_INT, truthy
from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.compute_models import Image, ImageMember
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest, Conflict, Forbidden, NotFound, TooLarge, shown
from kumo.image import access
from kumo.image.events import image_changed
from kumo.policy import allowed, authorize, unrestricted

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
RESERVED_PREFIX = "os_glance"
VISIBILITIES = ("public", "private", "shared", "community")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
DISK_FORMATS = (
    "ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop",
)  # fmt: skip
MEMBER_STATUSES = ("accepted", "pending", "rejected", "all")
TAG_LIMIT = 128
"""Tags an image may have (Glance's ``image_tag_quota``)."""
PROPERTY_LIMIT = 128
"""Extra properties an image may have (Glance's ``image_property_quota``)."""


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
    member_status = params.get("member_status", "accepted")
    if member_status not in MEMBER_STATUSES:
        raise BadRequest(f"Invalid status value: {member_status}")
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
    order = (column.desc() if desc else column, Image.id.desc() if desc else Image.id)
    mine = access.memberships(session, ctx)
    everyone = unrestricted(ctx, "image:get_image")
    rows = []
    for image in session.scalars(q.order_by(*order)):
        status = mine.get(image.id) if image.visibility == "shared" else None
        if not allowed(ctx, "image:get_image", access.target(image, status)):
            continue
        owned = image.owner is not None and image.owner == ctx.project_id
        if (
            status is not None
            and not owned
            and not everyone
            and member_status != "all"
            and status != member_status
        ):
            # Images shared with the project are listed once it accepted them
            # (or as ``member_status`` asks); showing one by id works anyway.
            continue
        if wanted is None and image.visibility == "community" and not owned:
            # Community images are listed only when asked for.
            continue
        rows.append(image)
    if "tag" in params:
        rows = [i for i in rows if params["tag"] in (i.tags or [])]
    return rows


# --- validation shared by create and update ---------------------------------


def _name(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or len(value) > 255):
        raise BadRequest("Invalid value for name: a string of at most 255 characters.")
    return value


def _flag(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise BadRequest(f"Invalid value for {key}: {value!r} is not of type 'boolean'.")
    return value


def _size(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_INT:
        raise BadRequest(
            f"Invalid value for {key}: {shown(value)} is not an integer from 0 to {MAX_INT}."
        )
    return value


def _format(key: str, value: Any) -> str | None:
    allowed_values = CONTAINER_FORMATS if key == "container_format" else DISK_FORMATS
    if value is not None and value not in allowed_values:
        raise BadRequest(
            f"Invalid value '{shown(value)}' for {key}: one of {', '.join(allowed_values)}."
        )
    return None if value is None else str(value)


def _tags(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise BadRequest("Invalid tags: a list of strings.")
    for tag in value:
        _tag(tag)
    tags = sorted(set(value))
    if len(tags) > TAG_LIMIT:
        raise TooLarge(f"Maximum number of tags ({TAG_LIMIT}) exceeded.")
    return tags


def _tag(tag: str) -> str:
    if not tag or len(tag) > 255:
        raise BadRequest("Invalid tag: a string of 1 to 255 characters.")
    return tag


def _visibility(ctx: RequestContext, value: Any) -> str:
    if value not in VISIBILITIES:
        raise BadRequest(f"Invalid visibility value: {value}")
    if value == "public":
        authorize(ctx, "image:publicize_image")
    return str(value)


def _property(key: str, value: Any) -> str:
    if key.startswith(RESERVED_PREFIX):
        raise Forbidden(f"Attribute '{key}' is reserved.")
    if not key or len(key) > 255:
        raise BadRequest("Property names are 1 to 255 characters.")
    if not isinstance(value, str) or len(value) > 65535:
        raise BadRequest(f"Property {key} must be a string of at most 65535 characters.")
    return value


def _owner(ctx: RequestContext, value: Any) -> str:
    """An owner other than the caller's project is for admins (Glance's
    default policy); a string of at most 255 characters."""
    if not isinstance(value, str) or len(value) > 255:
        raise BadRequest(f"Invalid owner: {shown(value)}")
    if value != ctx.project_id and not allowed(ctx, "image:set_owner"):
        raise Forbidden(f"You are not permitted to create images owned by '{value}'.")
    return value


def _check_property_count(props: dict[str, str]) -> None:
    if len(props) > PROPERTY_LIMIT:
        raise TooLarge(f"Maximum number of image properties ({PROPERTY_LIMIT}) exceeded.")


# --- create, update, delete --------------------------------------------------


def create(uow: UnitOfWork, ctx: RequestContext, body: Any) -> Image:
    if not isinstance(body, dict):
        raise BadRequest("Body expected in request.")
    bad = sorted(READ_ONLY & set(body) - {"id"})
    if bad:
        raise Forbidden(f"Attribute '{bad[0]}' is read-only.")
    visibility = _visibility(ctx, body.get("visibility", "shared"))
    ident = body.get("id") or str(uuid.uuid4())
    try:
        ident = str(uuid.UUID(str(ident)))
    except ValueError:
        raise BadRequest(f"{shown(ident)} is not a valid UUID") from None
    s = uow.session
    if s.get(Image, ident) is not None:
        raise Conflict(f"Image with identifier {ident} already exists!")
    properties = {k: _property(k, v) for k, v in body.items() if k not in CORE}
    _check_property_count(properties)
    image = Image(
        id=ident,
        name=_name(body.get("name")),
        owner=_owner(ctx, body["owner"]) if "owner" in body else ctx.project_id,
        status="queued",
        visibility=visibility,
        protected=_flag("protected", body.get("protected", False)),
        os_hidden=_flag("os_hidden", body.get("os_hidden", False)),
        container_format=_format("container_format", body.get("container_format")),
        disk_format=_format("disk_format", body.get("disk_format")),
        min_disk=_size("min_disk", body.get("min_disk", 0)),
        min_ram=_size("min_ram", body.get("min_ram", 0)),
        properties=properties,
        tags=_tags(body.get("tags", [])),
    )
    s.add(image)
    s.flush()
    image_changed(uow, image)
    return image


def _pointer(op: dict[str, Any]) -> str:
    path = op.get("path")
    if not isinstance(path, str) or not path.startswith("/") or len(path) < 2:
        raise BadRequest(f"Invalid JSON pointer for this resource: '{path}'")
    name = path[1:]
    if "/" in name:
        raise BadRequest(f"Nested paths are not allowed: '{path}'")
    return name.replace("~1", "/").replace("~0", "~")


def _set_core(ctx: RequestContext, image: Image, name: str, value: Any) -> None:
    if name == "owner":
        image.owner = _owner(ctx, value)
    if name == "name":
        image.name = _name(value)
    elif name == "visibility":
        image.visibility = _visibility(ctx, value)
    elif name in ("protected", "os_hidden"):
        setattr(image, name, _flag(name, value))
    elif name in ("min_ram", "min_disk"):
        setattr(image, name, _size(name, value))
    elif name in ("container_format", "disk_format"):
        if image.status != "queued":
            raise Forbidden(f"Attribute {name} can be only replaced for a queued image.")
        setattr(image, name, _format(name, value))
    elif name == "tags":
        image.tags = _tags(value)


def _v20_operation(op: Any) -> Any:
    """An operation in the older patch form Glance also takes
    (``application/openstack-images-v2.0-json-patch``: ``{"replace": "/name",
    "value": ...}``) as the standard one (``{"op": ..., "path": ...}``)."""
    if not isinstance(op, dict) or "op" in op:
        return op
    kinds = [k for k in ("add", "replace", "remove") if k in op]
    if len(kinds) != 1:
        return op
    out = {"op": kinds[0], "path": op[kinds[0]]}
    if "value" in op:
        out["value"] = op["value"]
    return out


def update(uow: UnitOfWork, ctx: RequestContext, image_id: str, patch: Any) -> Image:
    """A JSON patch (``add``/``replace``/``remove`` on top-level attributes)."""
    s = uow.session
    image = access.load(s, ctx, image_id, lock=True)
    access.require(s, ctx, "image:modify_image", image)
    if not isinstance(patch, list):
        raise BadRequest("Request body must be a JSON array of operation objects.")
    props = dict(image.properties or {})
    for op in patch:
        op = _v20_operation(op)
        if not isinstance(op, dict) or op.get("op") not in ("add", "replace", "remove"):
            raise BadRequest("Operations must be JSON objects with op add, replace or remove.")
        kind = op["op"]
        name = _pointer(op)
        if kind != "remove" and "value" not in op:
            raise BadRequest(f"Operation {kind} needs a value.")
        if name in READ_ONLY:
            raise Forbidden(f"Attribute '{name}' is read-only.")
        value = op.get("value")
        if name in CORE:
            if kind == "remove":
                raise Forbidden(f"Attribute '{name}' is reserved.")
            _set_core(ctx, image, name, value)
        elif kind == "remove":
            if name not in props:
                raise Conflict(f"Property {name} does not exist.")
            del props[name]
        elif kind == "replace" and name not in props:
            raise Conflict(f"Property {name} does not exist.")
        else:
            props[name] = _property(name, value)
    _check_property_count(props)
    image.properties = props
    image.updated_at = utcnow()
    s.flush()
    image_changed(uow, image)
    return image


def add_tag(uow: UnitOfWork, ctx: RequestContext, image_id: str, tag: str) -> None:
    s = uow.session
    image = access.load(s, ctx, image_id, lock=True)
    access.require(s, ctx, "image:modify_image", image)
    tags = list(image.tags or [])
    if _tag(tag) not in tags:
        image.tags = _tags([*tags, tag])
        image.updated_at = utcnow()


def remove_tag(uow: UnitOfWork, ctx: RequestContext, image_id: str, tag: str) -> None:
    s = uow.session
    image = access.load(s, ctx, image_id, lock=True)
    access.require(s, ctx, "image:modify_image", image)
    tags = list(image.tags or [])
    if tag not in tags:
        raise NotFound(f"Tag {tag} not found on image {image_id}.")
    image.tags = [t for t in tags if t != tag]
    image.updated_at = utcnow()


def make_empty(image: Image) -> None:
    """A just-created image ``active`` with no data (size 0), as the image of
    a volume-backed server is: its disks are volume snapshots named in its
    ``block_device_mapping``, not bytes of its own."""
    if image.status != "queued":
        raise Conflict(f"Image status transition from {image.status} to active is not allowed")
    image.size = 0
    image.checksum = hashlib.md5(b"", usedforsecurity=False).hexdigest()
    image.os_hash_algo = "sha512"
    image.os_hash_value = hashlib.sha512(b"").hexdigest()
    image.status = "active"
    image.updated_at = utcnow()


def set_active(uow: UnitOfWork, ctx: RequestContext, image_id: str, active: bool) -> None:
    """Reactivate (``active``) or deactivate an image; doing it twice changes nothing."""
    s = uow.session
    image = access.load(s, ctx, image_id, lock=True)
    access.require(s, ctx, "image:reactivate" if active else "image:deactivate", image)
    wanted, other = ("active", "deactivated") if active else ("deactivated", "active")
    if image.status == wanted:
        return
    if image.status != other:
        verb = "reactivate" if active else "deactivate"
        raise Forbidden(f"Not allowed to {verb} image in status '{image.status}'")
    image.status = wanted
    image.updated_at = utcnow()
    image_changed(uow, image)


def remove(uow: UnitOfWork, ctx: RequestContext, image_id: str) -> None:
    """Delete the record and its members; the caller removes the data once committed."""
    s = uow.session
    image = access.load(s, ctx, image_id, lock=True)
    access.require(s, ctx, "image:delete_image", image)
    if image.protected:
        raise Forbidden(f"Image {image_id} is protected and cannot be deleted.")
    s.execute(delete(ImageMember).where(ImageMember.image_id == image.id))
    image_changed(uow, image, deleted=True)
    s.delete(image)


def iso(value: Any) -> str:
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
        "created_at": iso(image.created_at),
        "updated_at": iso(image.updated_at),
        "tags": list(image.tags or []),
        "self": f"/v2/images/{image.id}",
        "file": f"/v2/images/{image.id}/file",
        "schema": "/v2/schemas/image",
    }
    for key, value in (image.properties or {}).items():
        out.setdefault(key, value)
    return out


def kill_unfinished(session: Session, image_id: str) -> None:
    """A failed upload from a host (a server's snapshot, a volume's copy):
    the image is ``killed`` unless its data came whole meanwhile."""
    image = session.get(Image, image_id, with_for_update=True)
    if image is not None and image.status in ("queued", "saving"):
        image.status = "killed"
        image.updated_at = utcnow()
