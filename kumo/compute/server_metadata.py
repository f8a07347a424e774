"""A server's metadata (``/servers/{id}/metadata``): key/value strings the
owner sets at boot and changes later, counted against ``metadata_items``.

``POST`` merges, ``PUT`` on the collection replaces, ``PUT`` on one key
sets it (the body must name exactly that key); a key that is not there is
404. The metadata service reads the same column (``server.meta``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from kumo.compute import quotas, servers
from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.compute_models import Server
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest, NotFound
from kumo.policy import authorize


def _editable(uow: UnitOfWork, ctx: RequestContext, server_id: str) -> Server:
    server = servers.load(uow.session, ctx, server_id, lock=True)
    authorize(ctx, "compute:servers:metadata:update", {"project_id": server.project_id})
    return server


def _body(body: Any, wrapper: str) -> dict[str, str]:
    if not isinstance(body, dict) or not isinstance(body.get(wrapper), dict):
        raise BadRequest(f"Malformed request body: '{wrapper}' is a required property.")
    return servers.metadata_field(body[wrapper])


def _store(uow: UnitOfWork, settings: Settings, server: Server, meta: dict[str, str]) -> None:
    limit = quotas.limits(uow.session, settings, server.project_id).get("metadata_items", -1)
    if limit >= 0 and len(meta) > limit:
        raise quotas.QuotaExceeded(
            f"Quota exceeded for metadata_items: Requested {len(meta)}, but the limit is {limit}"
        )
    server.meta = meta
    server.updated_at = utcnow()


def show_all(session: Session, ctx: RequestContext, server_id: str) -> dict[str, str]:
    return dict(servers.load(session, ctx, server_id).meta or {})


def show(session: Session, ctx: RequestContext, server_id: str, key: str) -> dict[str, str]:
    meta = show_all(session, ctx, server_id)
    if key not in meta:
        raise NotFound(f"Metadata item was not found: {key}")
    return {key: meta[key]}


def merge(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, server_id: str, body: Any
) -> dict[str, str]:
    server = _editable(uow, ctx, server_id)
    meta = {**(server.meta or {}), **_body(body, "metadata")}
    _store(uow, settings, server, meta)
    return meta


def replace(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, server_id: str, body: Any
) -> dict[str, str]:
    server = _editable(uow, ctx, server_id)
    meta = _body(body, "metadata")
    _store(uow, settings, server, meta)
    return meta


def set_item(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, server_id: str, key: str, body: Any
) -> dict[str, str]:
    server = _editable(uow, ctx, server_id)
    item = _body(body, "meta")
    if len(item) != 1:
        raise BadRequest("Request body contains too many items")
    if key not in item:
        raise BadRequest("Request body and URI mismatch")
    _store(uow, settings, server, {**(server.meta or {}), **item})
    return item


def delete_item(uow: UnitOfWork, ctx: RequestContext, server_id: str, key: str) -> None:
    server = _editable(uow, ctx, server_id)
    meta = dict(server.meta or {})
    if key not in meta:
        raise NotFound(f"Metadata item was not found: {key}")
    del meta[key]
    server.meta = meta
    server.updated_at = utcnow()
