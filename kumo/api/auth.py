"""Token authentication for every API: turns X-Auth-Token into a context."""

from __future__ import annotations

from fastapi import Request

from kumo.context import RequestContext
from kumo.errors import Unauthorized


def authenticate(request: Request) -> RequestContext:
    """FastAPI dependency: the validated caller, or 401."""
    token = request.headers.get("x-auth-token")
    if not token:
        raise Unauthorized("The request you have made requires authentication.")
    ctx: RequestContext = request.app.state.runtime.identity.validate_token(token)
    return ctx
