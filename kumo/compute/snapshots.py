"""``createImage``: a VM's root disk into a new image of the image API.

The action makes the image record at once, as the requester (``queued``,
private to the server's project, ``image_type=snapshot``,
``instance_uuid``, ``base_image_ref``, the image's boot properties and the
request's ``metadata``; owned by the requester's project, as Nova does), records what the requester lends for the upload
(``ImageSnapshot``: user, project, roles, like a Keystone trust limited to
this image) and sets the server's task ``image_snapshot``. The server's
watch body then carries ``snapshot`` (the image's id) to its host.

The host's agent flattens the VM's disk into a standalone qcow2 (a
running VM is paused for the copy and continued after), bundles it with
the image's kernel and initramfs (``kumo.guestimage.bundle``, so the
snapshot boots like its base) and streams it to
``PUT /internal/v1/snapshots/{image_id}/file``. That route admits only
the agent of the server's host (``internal:upload_snapshot``) and then
writes the data through the image service with the requester's delegated
context (``delegated``): the owner's upload rule, the project's image
quota and the ``queued -> saving -> active`` status machine all apply as
if the user uploaded it; never an admin context. When the upload ends,
either way, the record goes, the server's task clears, and a failed
snapshot's image is ``killed`` (``DELETE`` on the same path: the agent
could not make the data).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from kumo.compute import drivers, server_events
from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.compute_models import Image, ImageSnapshot, Server
from kumo.db.identity_models import Project, User
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest, Conflict, Forbidden, NotFound
from kumo.identity import agent_credentials
from kumo.identity import roles as rolelib
from kumo.image import images
from kumo.policy import authorize

TASK = "image_snapshot"
RULE = "compute:servers:create_image"
UPLOAD_RULE = "internal:upload_snapshot"
STATES = ("active", "stopped", "paused", "suspended")
"""What Nova snapshots from (a running VM is paused for the copy)."""
INHERITED = ("hypervisor_type", "architecture", "os_distro", "os_type", "kernel_release",
             "kumo_bundle")  # fmt: skip
"""Properties of the base image that the snapshot keeps (how it boots)."""


class SnapshotGone(NotFound):
    kind = "itemNotFound"


def fields(arg: Any) -> tuple[str, dict[str, str]]:
    """The new image's name and metadata from the action's body."""
    if not isinstance(arg, dict) or not isinstance(arg.get("name"), str):
        raise BadRequest("Invalid input for field/attribute createImage: 'name' is required.")
    name = arg["name"].strip()
    if not name or len(name) > 255:
        raise BadRequest("Invalid input for field/attribute name: 1 to 255 characters.")
    metadata = arg.get("metadata", {})
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise BadRequest("Invalid input for field/attribute metadata: strings to strings.")
    reserved = sorted(set(metadata) & images.CORE)
    if reserved:
        raise BadRequest(f"Invalid input for field/attribute metadata: {reserved[0]} is reserved.")
    return name, metadata


def request(uow: UnitOfWork, ctx: RequestContext, server: Server, current: str, arg: Any) -> str:
    """Start a snapshot of ``server``; the new image's id."""
    authorize(ctx, RULE, {"project_id": server.project_id})
    authorize(ctx, "image:add_image", {"project_id": server.project_id})
    name, metadata = fields(arg)
    if server.driver != drivers.QEMU:
        raise Conflict(
            f"Instance {server.id} is a namespace instance: only virtual machines have a disk "
            "to snapshot.",
            kind="InstanceInvalidState",
        )
    if current not in STATES:
        raise Conflict(
            f"Cannot 'createImage' instance {server.id} while it is in vm_state {current}",
            kind="InstanceInvalidState",
        )
    s = uow.session
    base = s.get(Image, server.image_id) if server.image_id else None
    props = {k: v for k, v in ((base.properties or {}) if base else {}).items() if k in INHERITED}
    props.update(metadata)
    props.update(
        {"image_type": "snapshot", "instance_uuid": server.id, "base_image_ref": server.image_id,
         "user_id": ctx.user_id}
    )  # fmt: skip
    body: dict[str, Any] = {
        **props,
        "name": name,
        "visibility": "private",
        "container_format": base.container_format if base else "ova",
        "disk_format": base.disk_format if base else "qcow2",
        "min_disk": int((server.flavor or {}).get("disk") or 0),
        "min_ram": base.min_ram if base else 0,
    }
    image = images.create(uow, ctx, body)
    s.add(
        ImageSnapshot(
            image_id=image.id,
            server_id=server.id,
            user_id=ctx.user_id,
            project_id=ctx.project_id or "",
            roles=sorted(ctx.roles),
        )
    )
    server.task_state = TASK
    server.updated_at = utcnow()
    return image.id


def lent_context(
    s: Session, user_id: str, project_id: str, roles: list[str]
) -> RequestContext | None:
    """The context a user lent for one upload: None when the user or project is
    disabled or gone, or the user holds none of the lent roles any more."""
    user = s.get(User, user_id)
    project = s.get(Project, project_id)
    if user is None or not user.enabled or project is None or not project.enabled:
        return None
    held = {r.name for r in rolelib.effective_roles(s, user.id, "project", project.id)}
    kept = frozenset(set(roles) & held)
    if not kept:
        return None
    return RequestContext(
        user_id=user.id,
        user_name=user.name,
        user_domain_id=user.domain_id,
        project_id=project.id,
        project_name=project.name,
        project_domain_id=project.domain_id,
        roles=kept,
    )


def delegated(uow: UnitOfWork, ctx: RequestContext, image_id: str) -> RequestContext:
    """For the agent of the snapshot's server's host: the requester's
    context for this upload (its roles narrowed to those it still holds).
    403 for any other caller; 404 when no snapshot of this image is under way."""
    s = uow.session
    snap = s.get(ImageSnapshot, image_id)
    server = s.get(Server, snap.server_id) if snap is not None else None
    if snap is None or server is None:
        raise SnapshotGone(f"No snapshot into image {image_id} is under way.")
    agent_credentials.authorize_hosts(s, ctx, [server.host or ""], UPLOAD_RULE)
    found = lent_context(s, snap.user_id, snap.project_id, list(snap.roles or []))
    if found is None:
        raise Forbidden("The snapshot's requester can no longer upload images to its project.")
    return found


def end(uow: UnitOfWork, ctx: RequestContext, image_id: str, ok: bool) -> None:
    """The upload is over: the record goes, the server's task clears, and
    the image of a failed snapshot is ``killed`` unless it became active."""
    s = uow.session
    snap = s.get(ImageSnapshot, image_id, with_for_update=True)
    if snap is None:
        raise SnapshotGone(f"No snapshot into image {image_id} is under way.")
    server = s.get(Server, snap.server_id, with_for_update=True)
    agent_credentials.authorize_hosts(s, ctx, [(server.host or "") if server else ""], UPLOAD_RULE)
    s.delete(snap)
    if not ok:
        images.kill_unfinished(s, image_id)
    if server is not None and server.task_state == TASK:
        s.flush()
        server.task_state = None
        server.updated_at = utcnow()
        server_events.emit(uow, server)
