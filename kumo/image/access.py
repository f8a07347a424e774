"""Who may see and act on an image: the policy table's ``image:*`` rules, asked
with the image's facts.

A caller sees an image when ``image:get_image`` admits it for the image's
target: its owner's project, whether it is public or community, and whether
the caller's project is a member of it (only ``shared`` images have
members; a member sees the image whatever its answer, as Glance shows it).
An image the caller cannot see is not found; one it sees but may not change
answers 403, as Glance does.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.context import RequestContext
from kumo.db.compute_models import Image, ImageMember
from kumo.errors import NotFound
from kumo.policy import allowed, authorize


def not_found(image_id: str) -> NotFound:
    return NotFound(f"No image found with ID {image_id}", kind="ImageNotFound")


def target(image: Image, member_status: str | None) -> dict[str, Any]:
    """The facts the ``image:*`` rules read; ``member_status``: the caller's
    project's membership of the image (None: not a member)."""
    return {
        "project_id": image.owner,
        "public": image.visibility == "public",
        "community": image.visibility == "community",
        "member": image.visibility == "shared" and member_status is not None,
    }


def membership(session: Session, ctx: RequestContext, image_id: str) -> str | None:
    """The status of the caller's project's membership of an image, or None."""
    if ctx.project_id is None:
        return None
    row = session.scalar(
        select(ImageMember.status).where(
            ImageMember.image_id == image_id, ImageMember.member == ctx.project_id
        )
    )
    return None if row is None else str(row)


def memberships(session: Session, ctx: RequestContext) -> dict[str, str]:
    """Every image the caller's project is a member of: image id -> status."""
    if ctx.project_id is None:
        return {}
    rows = session.execute(
        select(ImageMember.image_id, ImageMember.status).where(ImageMember.member == ctx.project_id)
    )
    return {image_id: status for image_id, status in rows}


def visible(session: Session, ctx: RequestContext, image: Image) -> bool:
    return allowed(ctx, "image:get_image", target(image, membership(session, ctx, image.id)))


def load(session: Session, ctx: RequestContext, image_id: str, *, lock: bool = False) -> Image:
    """The image if the caller may see it; not found otherwise."""
    query = select(Image).where(Image.id == image_id)
    if lock:
        query = query.with_for_update()
    image = session.scalar(query)
    if image is None or not visible(session, ctx, image):
        raise not_found(image_id)
    return image


def require(session: Session, ctx: RequestContext, name: str, image: Image) -> None:
    """The table's rule ``name`` for an image the caller sees (403 otherwise)."""
    authorize(ctx, name, target(image, membership(session, ctx, image.id)))
