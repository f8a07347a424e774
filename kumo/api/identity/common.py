"""Shared bits of the identity routes: body parsing and policy checks."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from kumo.errors import BadRequest
from kumo.identity.service import IdentityService


def identity(request: Request) -> IdentityService:
    svc: IdentityService = request.app.state.runtime.identity
    return svc


def member(body: Any, key: str) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise BadRequest(f"Invalid input for field '{key}': '{key}' is a required property")
    value: dict[str, Any] = body[key]
    return value


# The table's rules for each collection's reads and writes, and the target
# attribute the read rule compares with the object's id.
SHOW_RULES = {
    "domains": ("identity:get_domain", "domain_id"),
    "projects": ("identity:get_project", "id"),
    "users": ("identity:get_user", "user_id"),
    "roles": ("identity:list_roles", "id"),
}
WRITE_RULES = {
    "domains": "identity:manage_domains",
    "projects": "identity:manage_projects",
    "users": "identity:manage_users",
    "roles": "identity:manage_roles",
}


def flag(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.lower() not in ("0", "false", "no", "off")
