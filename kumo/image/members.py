"""Image members: the projects a ``shared`` image is offered to.

The owner adds and removes members; a member answers for itself
(``pending`` -> ``accepted`` or ``rejected``). A member sees the image
whatever its answer; image lists show it only once accepted (or when asked
with ``member_status``). Only shared images have members (403 otherwise).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.compute_models import Image, ImageMember
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest, Conflict, Forbidden, NotFound, TooLarge
from kumo.image import access
from kumo.image.images import iso
from kumo.policy import allowed, authorize

STATUSES = ("pending", "accepted", "rejected")
MEMBER_LIMIT = 128
"""Members an image may have (Glance's ``image_member_quota``)."""


def _shared(session: Session, ctx: RequestContext, image_id: str) -> Image:
    image = access.load(session, ctx, image_id)
    if image.visibility != "shared":
        raise Forbidden("Only shared images have members.")
    return image


def _member_target(image: Image, member_id: str) -> dict[str, Any]:
    return {"project_id": image.owner, "member_id": member_id}


def _row(session: Session, image_id: str, member_id: str) -> ImageMember | None:
    return session.scalar(
        select(ImageMember).where(ImageMember.image_id == image_id, ImageMember.member == member_id)
    )


def _missing(image_id: str, member_id: str) -> NotFound:
    return NotFound(f"Member {member_id} not found for image {image_id}", kind="MemberNotFound")


def listing(session: Session, ctx: RequestContext, image_id: str) -> list[ImageMember]:
    """The owner sees every member; a member only its own membership."""
    image = _shared(session, ctx, image_id)
    rows = list(
        session.scalars(
            select(ImageMember).where(ImageMember.image_id == image.id).order_by(ImageMember.id)
        )
    )
    if allowed(ctx, "image:get_members", {"project_id": image.owner}):
        return rows
    return [m for m in rows if allowed(ctx, "image:get_members", _member_target(image, m.member))]


def show(session: Session, ctx: RequestContext, image_id: str, member_id: str) -> ImageMember:
    image = _shared(session, ctx, image_id)
    row = _row(session, image.id, member_id)
    if row is None or not allowed(ctx, "image:get_members", _member_target(image, member_id)):
        raise _missing(image_id, member_id)
    return row


def add(uow: UnitOfWork, ctx: RequestContext, image_id: str, body: Any) -> ImageMember:
    s = uow.session
    image = _shared(s, ctx, image_id)
    access.require(s, ctx, "image:add_member", image)
    member = body.get("member") if isinstance(body, dict) else None
    if not isinstance(member, str) or not member or len(member) > 64:
        raise BadRequest("Member to be added not specified")
    if _row(s, image.id, member) is not None:
        raise Conflict(f"Member {member} already exists for image {image_id}")
    count = len(list(s.scalars(select(ImageMember.id).where(ImageMember.image_id == image.id))))
    if count >= MEMBER_LIMIT:
        raise TooLarge(f"Maximum number of image members ({MEMBER_LIMIT}) exceeded.")
    row = ImageMember(image_id=image.id, member=member, status="pending")
    s.add(row)
    s.flush()
    return row


def update(
    uow: UnitOfWork, ctx: RequestContext, image_id: str, member_id: str, body: Any
) -> ImageMember:
    s = uow.session
    image = _shared(s, ctx, image_id)
    row = _row(s, image.id, member_id)
    if row is None or not allowed(ctx, "image:get_members", _member_target(image, member_id)):
        raise _missing(image_id, member_id)
    authorize(ctx, "image:modify_member", _member_target(image, member_id))
    status = body.get("status") if isinstance(body, dict) else None
    if status not in STATUSES:
        raise BadRequest(f"Status must be one of {', '.join(STATUSES)}; got {status!r}.")
    row.status = status
    row.updated_at = utcnow()
    s.flush()
    return row


def remove(uow: UnitOfWork, ctx: RequestContext, image_id: str, member_id: str) -> None:
    s = uow.session
    image = _shared(s, ctx, image_id)
    row = _row(s, image.id, member_id)
    if row is None or not allowed(ctx, "image:get_members", _member_target(image, member_id)):
        raise _missing(image_id, member_id)
    access.require(s, ctx, "image:delete_member", image)
    s.delete(row)


def view(row: ImageMember) -> dict[str, Any]:
    return {
        "image_id": row.image_id,
        "member_id": row.member,
        "status": row.status,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "schema": "/v2/schemas/member",
    }
