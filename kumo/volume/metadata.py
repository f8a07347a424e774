"""Metadata bodies of volumes and snapshots (``/metadata`` and
``/metadata/{key}``): Cinder's shapes and errors, whatever the owner."""

from __future__ import annotations

from typing import Any

from kumo.errors import BadRequest, NotFound
from kumo.volume import common


def merged(current: dict[str, str] | None, body: Any, *, replace: bool) -> dict[str, str]:
    """``{"metadata": {...}}`` set over (or, ``replace``, instead of) ``current``."""
    if not isinstance(body, dict) or "metadata" not in body:
        raise BadRequest("Malformed request body: expected {'metadata': {...}}.")
    given = common.metadata(body["metadata"])
    return given if replace else {**(current or {}), **given}


def item(current: dict[str, str] | None, key: str) -> str:
    found = (current or {}).get(key)
    if found is None:
        raise NotFound("Metadata item was not found.", kind="MetadataItemNotFound")
    return found


def with_item(current: dict[str, str] | None, key: str, body: Any) -> dict[str, str]:
    """``{"meta": {key: value}}`` for the item ``key`` of the URL."""
    meta = body.get("meta") if isinstance(body, dict) else None
    if not isinstance(meta, dict):
        raise BadRequest("Malformed request body: expected {'meta': {key: value}}.")
    if key not in meta:
        raise BadRequest("Request body and URI mismatch")
    if len(meta) > 1:
        raise BadRequest("Request body contains too many items")
    return {**(current or {}), **common.metadata(meta)}


def without(current: dict[str, str] | None, key: str) -> dict[str, str]:
    item(current, key)
    return {k: v for k, v in (current or {}).items() if k != key}
