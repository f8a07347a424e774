"""The attributes every Neutron resource body shares, checked before the
policy door (``kumo.api.door``): Neutron validates a request body's
attribute types and lengths before it enforces policy, so a too-long
``name`` is 400 even for a caller the policy refuses, and for an object
the caller cannot see (the answer depends on the body alone, so it tells
nothing about the object).

The services check these attributes again with the rest of the body.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from kumo.context import RequestContext
from kumo.network import validate

COMMON = ("name", "description", "project_id", "tenant_id")
"""Strings of at most 255 characters (or null) in every resource's body."""


def _members(body: Any) -> list[dict[str, Any]]:
    """The resource bodies of a request: ``{member: {...}}`` or a bulk
    ``{collection: [{...} | {member: {...}}]}``."""
    if not isinstance(body, dict):
        return []
    out: list[dict[str, Any]] = []
    for value in body.values():
        if isinstance(value, dict):
            out.append(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    inner = [v for v in item.values() if isinstance(v, dict)]
                    out.extend(inner if len(item) == 1 and inner else [item])
    return out


def check_body(body: Any) -> None:
    """400 ``InvalidInput`` when a resource body's shared attribute is not a
    string of at most 255 characters."""
    for member in _members(body):
        for key in COMMON:
            if key in member:
                validate.string(member, key)


async def common_attributes(request: Request, ctx: RequestContext) -> None:
    raw = await request.body()
    if not raw:
        return
    try:
        body = json.loads(raw)
    except ValueError:
        return  # the route answers a body that is not JSON
    check_body(body)
