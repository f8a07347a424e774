"""Small helpers every compute module shares: timestamps, links, body checks."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kumo.errors import BadRequest, shown


def ts(value: dt.datetime | None) -> str | None:
    """Nova's timestamp format: ``2024-01-02T03:04:05Z``."""
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def links(base: str, collection: str, ident: str) -> list[dict[str, str]]:
    """``self`` under /compute/v2.1 and ``bookmark`` under /compute."""
    return [
        {"rel": "self", "href": f"{base}/v2.1/{collection}/{ident}"},
        {"rel": "bookmark", "href": f"{base}/{collection}/{ident}"},
    ]


def body_member(body: Any, key: str) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise BadRequest(f"Invalid input for field/attribute {key}. Value: {body}. required")
    value: dict[str, Any] = body[key]
    return value


def name_field(value: Any, field: str = "name", *, max_len: int = 255) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise BadRequest(
            f"Invalid input for field/attribute {field}. Value: {value}. "
            f"'{value}' must be a non-empty string of at most {max_len} characters"
        )
    return value


MAX_INT = 2**31 - 1
"""The largest integer a compute or image count takes (32-bit columns, as in Nova and Glance)."""


def non_negative(value: Any, field: str, *, minimum: int = 0, maximum: int = MAX_INT) -> int:
    if isinstance(value, bool):
        raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value}.")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise BadRequest(
            f"Invalid input for field/attribute {field}. Value: {value}. "
            f"'{value}' is not of type 'integer'"
        ) from None
    if isinstance(value, float) and not value.is_integer():
        raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value}.")
    if number < minimum:
        raise BadRequest(
            f"Invalid input for field/attribute {field}. Value: {value}. "
            f"{value} is less than the minimum of {minimum}"
        )
    if number > maximum:
        raise BadRequest(
            f"Invalid input for field/attribute {field}. Value: {shown(value)}. "
            f"{shown(value)} is greater than the maximum of {maximum}"
        )
    return number


def truthy(text: str) -> bool | None:
    """Nova's boolean query values; None for anything else."""
    low = text.strip().lower()
    if low in ("1", "t", "true", "on", "y", "yes"):
        return True
    if low in ("0", "f", "false", "off", "n", "no"):
        return False
    return None
