"""Token authentication for every API: turns X-Auth-Token into a context."""

from __future__ import annotations

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from kumo.context import RequestContext
from kumo.errors import Unauthorized
from kumo.policy import admit


async def authenticate(request: Request) -> RequestContext:
    """FastAPI dependency: the validated caller, or 401; 403 when the route's
    policy rule could not pass for the caller's roles whatever the target.

    A token seen within the last two seconds is answered from memory on the
    event loop; otherwise validation (which may read the database) runs in
    the thread pool.
    """
    token = request.headers.get("x-auth-token")
    if not token:
        raise Unauthorized("The request you have made requires authentication.")
    identity = request.app.state.runtime.identity
    cached: RequestContext | None = identity.cached_context(token)
    ctx: RequestContext = (
        cached if cached is not None else await run_in_threadpool(identity.validate_token, token)
    )
    rules = getattr(request.scope.get("route"), "policy_rules", None)
    if rules is not None:
        admit(ctx, rules.get(request.method))
    return ctx
