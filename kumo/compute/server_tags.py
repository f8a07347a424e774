"""A server's tags (``/servers/{id}/tags``, from 2.26): short strings the
owner adds, replaces and removes; at most 50, each 1 to 60 characters
without ``/`` or ``,`` (the characters the list filters split on)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from kumo.compute import servers
from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.compute_models import Server
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest, NotFound
from kumo.policy import authorize

MAX_TAGS = 50
MAX_LENGTH = 60


def tag_field(value: Any) -> str:
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= MAX_LENGTH
        or "/" in value
        or "," in value
    ):
        raise BadRequest(f"Invalid input for field/attribute tags. Value: {value}.")
    return value


def tags_field(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise BadRequest(f"Invalid input for field/attribute tags. Value: {value}.")
    out = list(dict.fromkeys(tag_field(t) for t in value))
    if len(out) > MAX_TAGS:
        raise BadRequest(f"The number of tags exceeded the per-server limit {MAX_TAGS}")
    return out


def _editable(uow: UnitOfWork, ctx: RequestContext, server_id: str) -> Server:
    server = servers.load(uow.session, ctx, server_id, lock=True)
    authorize(ctx, "compute:servers:tags:update", {"project_id": server.project_id})
    return server


def listing(session: Session, ctx: RequestContext, server_id: str) -> list[str]:
    return list(servers.load(session, ctx, server_id).tags or [])


def exists(session: Session, ctx: RequestContext, server_id: str, tag: str) -> None:
    if tag not in listing(session, ctx, server_id):
        raise NotFound(f"Tag {tag} could not be found for instance {server_id}.")


def replace(uow: UnitOfWork, ctx: RequestContext, server_id: str, body: Any) -> list[str]:
    server = _editable(uow, ctx, server_id)
    if not isinstance(body, dict) or "tags" not in body:
        raise BadRequest("Malformed request body: 'tags' is a required property.")
    server.tags = tags_field(body["tags"])
    server.updated_at = utcnow()
    return list(server.tags)


def add(uow: UnitOfWork, ctx: RequestContext, server_id: str, tag: str) -> bool:
    """True when the tag is new."""
    server = _editable(uow, ctx, server_id)
    current = list(server.tags or [])
    if tag_field(tag) in current:
        return False
    if len(current) >= MAX_TAGS:
        raise BadRequest(f"The number of tags exceeded the per-server limit {MAX_TAGS}")
    server.tags = [*current, tag]
    server.updated_at = utcnow()
    return True


def remove(uow: UnitOfWork, ctx: RequestContext, server_id: str, tag: str | None) -> None:
    """One tag (404 when absent), or all of them."""
    server = _editable(uow, ctx, server_id)
    current = list(server.tags or [])
    if tag is not None:
        if tag not in current:
            raise NotFound(f"Tag {tag} could not be found for instance {server_id}.")
        current.remove(tag)
    server.tags = current if tag is not None else []
    server.updated_at = utcnow()
