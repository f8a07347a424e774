"""The per-project image storage quota (Glance's ``user_storage_quota``).

A project's usage is the size of every image it owns that has data; the
limit is ``Settings.image_quota_bytes`` (-1: none). An upload is checked
when it starts (against what it declares), while it streams (against what
was left when it started), and once more, with the project's image rows
locked, when it completes, so concurrent uploads cannot together pass it.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.config import Settings
from kumo.db.compute_models import Image
from kumo.errors import TooLarge


def usage(session: Session, owner: str, *, exclude: str, lock: bool = False) -> int:
    query = select(Image.id, Image.size).where(Image.owner == owner, Image.id != exclude)
    if lock:
        query = query.with_for_update()
    return sum(size or 0 for _, size in session.execute(query))


def room(session: Session, settings: Settings, owner: str | None, image_id: str) -> int:
    """Bytes the image may still hold: the size cap, or less under the owner's quota."""
    cap = settings.image_size_cap
    if owner is None or settings.image_quota_bytes < 0:
        return cap
    return min(cap, settings.image_quota_bytes - usage(session, owner, exclude=image_id))


def exceeded(settings: Settings, size: int, left: int) -> TooLarge:
    if size > settings.image_size_cap:
        return TooLarge(
            f"Image exceeds the storage quota: the largest image accepted is "
            f"{settings.image_size_cap} bytes."
        )
    return TooLarge(
        f"Denying attempt to upload image because it exceeds the quota: the project may "
        f"store {settings.image_quota_bytes} bytes of images and has {max(left, 0)} left."
    )
