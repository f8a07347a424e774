"""Shared bits of the identity routes: body parsing and policy checks."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from kumo.context import RequestContext
from kumo.errors import BadRequest, Forbidden
from kumo.identity.service import IdentityService


def identity(request: Request) -> IdentityService:
    svc: IdentityService = request.app.state.runtime.identity
    return svc


def member(body: Any, key: str) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise BadRequest(f"Invalid input for field '{key}': '{key}' is a required property")
    value: dict[str, Any] = body[key]
    return value


def require_admin(ctx: RequestContext, action: str) -> None:
    if not ctx.is_admin:
        raise Forbidden(
            f"You are not authorized to perform the requested action: identity:{action}."
        )


def require_admin_or_self(ctx: RequestContext, user_id: str, action: str) -> None:
    if not ctx.is_admin and ctx.user_id != user_id:
        require_admin(ctx, action)


def flag(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.lower() not in ("0", "false", "no", "off")
