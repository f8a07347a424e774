"""User messages (``/messages``): what failed, in words users can read
(Cinder's user messages, e.g. a volume no pool could take)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.uow import UnitOfWork
from kumo.db.volume_models import VolumeMessage
from kumo.policy import allowed, authorize, unrestricted
from kumo.volume import common

KEEP = dt.timedelta(days=30)
SCHEDULE_ALLOCATE_VOLUME = "VOLUME_VOLUME_001_002"
"""Cinder's event id for "schedule allocate volume" failures."""
ATTACH_VOLUME = "VOLUME_VOLUME_002_001"
"""Cinder's event id for "attach volume" failures (the compute host could not attach it)."""
COPY_VOLUME_TO_IMAGE = "VOLUME_VOLUME_004_001"
"""Cinder's event id for "copy volume to image" failures."""


def record(
    uow: UnitOfWork, project_id: str, resource_type: str, resource_id: str, event_id: str, text: str
) -> None:
    now = utcnow()
    uow.session.add(
        VolumeMessage(
            project_id=project_id,
            resource_type=resource_type,
            resource_uuid=resource_id,
            event_id=event_id,
            user_message=text,
            created_at=now,
            expires_at=now + KEEP,
        )
    )


def view(m: VolumeMessage) -> dict[str, Any]:
    return {
        "id": m.id,
        "message_level": m.message_level,
        "event_id": m.event_id,
        "user_message": m.user_message,
        "resource_type": m.resource_type,
        "resource_uuid": m.resource_uuid,
        "request_id": m.request_id,
        "created_at": common.stamp(m.created_at),
        "guaranteed_until": common.stamp(m.expires_at),
        "links": [],
    }


def listing(session: Session, ctx: RequestContext, params: dict[str, str]) -> list[VolumeMessage]:
    query = select(VolumeMessage)
    if not unrestricted(ctx, "message:get"):
        query = query.where(VolumeMessage.project_id == (ctx.project_id or ""))
    for key in ("resource_uuid", "resource_type", "event_id", "message_level"):
        if params.get(key):
            query = query.where(getattr(VolumeMessage, key) == params[key])
    rows = list(session.scalars(query))
    items, _ = common.page(
        rows, params, lambda m, k: getattr(m, k, None), lambda m: m.id,
        ("created_at", "id", "event_id", "resource_uuid"),
    )  # fmt: skip
    return items


def load(session: Session, ctx: RequestContext, message_id: str) -> VolumeMessage:
    m = session.get(VolumeMessage, message_id)
    if m is None or not allowed(ctx, "message:get", {"project_id": m.project_id}):
        raise common.not_found("Message", message_id)
    return m


def remove(uow: UnitOfWork, ctx: RequestContext, message_id: str) -> None:
    m = load(uow.session, ctx, message_id)
    authorize(ctx, "message:delete", {"project_id": m.project_id})
    uow.session.delete(m)
