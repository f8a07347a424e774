"""Token authentication for every API: turns X-Auth-Token into a context."""

from __future__ import annotations

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from kumo.api import door
from kumo.context import RequestContext
from kumo.errors import Forbidden, Unauthorized
from kumo.policy import admit


async def authenticate(request: Request) -> RequestContext:
    """FastAPI dependency: the validated caller, or 401; 403 when the route's
    policy rule could not pass for the caller's roles whatever the target.

    The route's checks before the door run first (its body's attributes:
    400), and a refusal of a rule that hides others' objects becomes 404
    when the route's lookup does not find the object for the caller
    (``kumo.api.door``).

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
    route = request.scope.get("route")
    rules = getattr(route, "policy_rules", None)
    if rules is not None:
        for check in door.checks(route, door.BEFORE):
            await check(request, ctx)
        rule = rules.get(request.method)
        try:
            admit(ctx, rule)
        except Forbidden:
            if rule is not None and rule.hidden == "404":
                for check in door.checks(route, door.ON_REFUSAL):
                    await check(request, ctx)
            raise
    return ctx
