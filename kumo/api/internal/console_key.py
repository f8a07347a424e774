"""``GET /internal/v1/console-key?host=H``: the key of ``H``'s console endpoint.

An agent reads its own host's key once and checks with it the
credentials API servers show its console endpoint
(``kumo.agent.console_server``). An agent's credential reads only the key
of the host it was enrolled for, an admin any host's; 401 without a
token, 403 otherwise. The body::

    {"console_key": {"host": H, "key": BASE64, "algorithm": "HMAC-SHA256"}}
"""

from __future__ import annotations

import base64

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.render import json_response
from kumo.api.routing import GatedRouter
from kumo.context import RequestContext
from kumo.errors import BadRequest

router = GatedRouter(local="/console-key")


@router.get("/console-key")
async def show(
    request: Request, host: str = "", ctx: RequestContext = Depends(authenticate)
) -> Response:
    if not host:
        raise BadRequest("Expected ?host=HOST")
    channel = request.app.state.runtime.compute.console_channel
    key = await run_in_threadpool(channel.host_key, ctx, host)
    body = {"host": host, "key": base64.b64encode(key).decode(), "algorithm": "HMAC-SHA256"}
    return json_response({"console_key": body}, headers={"Cache-Control": "no-store"})
