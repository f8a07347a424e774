"""Shared by the volume modules: validation of request fields, listing
(filters, sorting, paging), time stamps as Cinder prints them."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from kumo.errors import BadRequest, NotFound, TooLarge, shown

__all__ = ["InvalidState", "OverLimit", "shown"]

T = TypeVar("T")
MAX_LIMIT = 1000


class OverLimit(TooLarge):
    """Quota exceeded: Cinder answers 413 ``overLimit``."""

    kind = "OverLimit"


class InvalidState(BadRequest):
    """An action the object's status does not allow (Cinder's ``InvalidVolume``: 400)."""

    kind = "InvalidVolume"


def not_found(what: str, ident: str) -> NotFound:
    return NotFound(f"{what} {ident} could not be found.")


def body_of(body: Any, key: str) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise BadRequest(f"Missing required element '{key}' in request body.")
    inner: dict[str, Any] = body[key]
    return inner


def text(value: Any, field: str, *, limit: int = 255, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise BadRequest(f"{field} is required.")
        return None
    if not isinstance(value, str):
        raise BadRequest(
            f"Invalid input for field/attribute {field}: {shown(value)!r} is not a string."
        )
    if len(value) > limit:
        raise BadRequest(
            f"Invalid input for field/attribute {field}: longer than {limit} characters."
        )
    if required and not value.strip():
        raise BadRequest(f"{field} must not be empty.")
    return value


def size(value: Any, field: str = "size") -> int:
    if isinstance(value, bool):
        raise BadRequest(f"Invalid input for field/attribute {field}: {value!r} is not an integer.")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise BadRequest(
            f"Invalid input for field/attribute {field}: {shown(value)!r} is not an integer."
        ) from None
    if isinstance(value, float) and value != number:
        raise BadRequest(f"Invalid input for field/attribute {field}: {value!r} is not an integer.")
    if number < 1:
        raise BadRequest(
            f"Invalid input for field/attribute {field}: {number} is less than the minimum of 1."
        )
    if number > 1 << 20:
        raise BadRequest(f"Invalid input for field/attribute {field}: {number} is too large.")
    return number


def boolean(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "1", "yes", "on", "t", "y"):
        return True
    if isinstance(value, str) and value.lower() in ("false", "0", "no", "off", "f", "n"):
        return False
    raise BadRequest(
        f"Invalid input for field/attribute {field}: {shown(value)!r} is not a boolean."
    )


def metadata(value: Any, field: str = "metadata") -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"Invalid input for field/attribute {field}: not an object.")
    out: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not key or len(key) > 255:
            raise BadRequest(f"Invalid {field} key {shown(key)!r}: 1 to 255 characters.")
        if not isinstance(item, str) or len(item) > 255:
            raise BadRequest(f"Invalid {field} value for {shown(key)!r}: a string of at most 255.")
        out[key] = item
    return out


def stamp(value: dt.datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%S.000000")


def metadata_filter(raw: str) -> dict[str, str]:
    """``?metadata={"k": "v"}`` (JSON, or Python's dict repr as the clients send it)."""
    try:
        found = json.loads(raw)
    except ValueError:
        try:
            found = json.loads(raw.replace("'", '"'))
        except ValueError:
            raise BadRequest(f"Invalid metadata filter {shown(raw)!r}.") from None
    if not isinstance(found, dict):
        raise BadRequest("The metadata filter must be an object.")
    return {str(k): str(v) for k, v in found.items()}


def _sort_keys(params: dict[str, str], allowed: Sequence[str]) -> list[tuple[str, bool]]:
    """[(key, descending)] from ``sort=k1:asc,k2`` or ``sort_key``/``sort_dir``."""
    out: list[tuple[str, bool]] = []
    if params.get("sort"):
        for part in params["sort"].split(","):
            key, _, direction = part.strip().partition(":")
            out.append((key, (direction or "desc").lower() == "desc"))
    elif params.get("sort_key") or params.get("sort_dir"):
        out.append(
            (params.get("sort_key") or "created_at", params.get("sort_dir", "desc") == "desc")
        )
    # the names of v1 that Cinder still sorts by
    out = [({"display_name": "name", "display_description": "description"}.get(k, k), d)
           for k, d in out]  # fmt: skip
    for key, _ in out:
        if key not in allowed:
            raise BadRequest(f"Invalid sort key {shown(key)!r}.")
    if params.get("sort_dir", "desc").lower() not in ("asc", "desc"):
        raise BadRequest("Invalid sort direction: asc or desc.")
    return out or [("created_at", True)]


def page(
    items: list[T],
    params: dict[str, str],
    key_of: Callable[[T, str], Any],
    id_of: Callable[[T], str],
    allowed: Sequence[str],
) -> tuple[list[T], bool]:
    """Sort, then ``marker``/``offset``/``limit``; also whether a page was
    cut (or is full: its ``next`` link may then lead to an empty page)."""
    keys = _sort_keys(params, allowed)
    for key, descending in reversed([*keys, ("id", keys[-1][1])]):
        items = _sorted(items, key_of, key, descending)
    marker = params.get("marker")
    if marker:
        index = next((i for i, it in enumerate(items) if id_of(it) == marker), None)
        if index is None:
            raise NotFound(f"Marker {shown(marker)} could not be found.")
        items = items[index + 1 :]
    if params.get("offset"):
        try:
            offset = int(params["offset"])
        except ValueError:
            raise BadRequest("offset must be an integer.") from None
        if offset < 0:
            raise BadRequest("offset must not be negative.")
        items = items[offset:]
    limit = MAX_LIMIT
    if params.get("limit"):
        try:
            limit = int(params["limit"])
        except ValueError:
            raise BadRequest("limit must be an integer.") from None
        if limit < 0:
            raise BadRequest("limit must not be negative.")
        limit = min(limit, MAX_LIMIT)
    # a full page links to the next one, as Cinder's does, even when nothing follows
    return items[:limit], bool(items) and len(items) >= limit > 0


def _sorted(items: list[T], key_of: Callable[[T, str], Any], key: str, descending: bool) -> list[T]:
    return sorted(items, key=lambda it: _sortable(key_of(it, key)), reverse=descending)


def _sortable(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, bool):
        return (1, int(value))
    return (1, value)
