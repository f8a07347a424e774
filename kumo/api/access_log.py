"""Request ids and access logs: one line per HTTP request, as ASGI middleware.

Every response carries ``x-openstack-request-id`` (compute responses also
as ``x-compute-request-id``, as Nova sends it): the one a handler set,
else the caller's when it is a well-formed ``req-<uuid>`` (so one id can
follow a change across services), else a new ``req-<uuid>``. Once the
response is sent, the logger ``kumo.api.access`` writes at info level::

    GET /networking/v2.0/networks 200 3.1 ms req-6f0c...

The path is logged without its query string (a console URL carries its
token there). Plain ASGI rather than ``BaseHTTPMiddleware``, so streamed
responses (the watch feed) pass through unbuffered; websockets pass untouched.

The same timing feeds the request metrics (``kumo.telemetry.api``: by
route template, method and status) unless ``metrics`` is off, and the id
is the current request id (``kumo.telemetry.request_id``) while the
request is served, so the outbox events it causes carry it.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kumo.telemetry import request_id as current_request

log = logging.getLogger("kumo.api.access")

HEADER = b"x-openstack-request-id"
COMPUTE_HEADER = b"x-compute-request-id"
"""Nova's name for the same id, also on every compute response."""
_WELL_FORMED = re.compile(rb"^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def new_request_id() -> str:
    return f"req-{uuid.uuid4()}"


def _incoming(scope: Scope) -> bytes | None:
    for name, value in scope.get("headers") or ():
        if name.lower() == HEADER and _WELL_FORMED.match(value.lower()):
            return bytes(value.lower())
    return None


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp, metrics: bool = False) -> None:
        self.app = app
        self.observe: Any = None
        if metrics:
            from kumo.telemetry.api import observe_request, route_template

            self.observe, self.template = observe_request, route_template

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _incoming(scope) or new_request_id().encode()
        token = current_request.CURRENT.set(request_id.decode())
        status = 500  # what the server answers when the app fails before it starts one

        async def send_with_id(message: Message) -> None:
            nonlocal status, request_id
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers") or [])
                own = next((v for k, v in headers if k.lower() == HEADER), None)
                if own is None:
                    headers.append((HEADER, request_id))
                else:
                    request_id = bytes(own)
                if str(scope.get("path", "")).startswith("/compute"):
                    headers.append((COMPUTE_HEADER, request_id))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            current_request.CURRENT.reset(token)
            took = time.perf_counter() - started
            if self.observe is not None:
                self.observe(self.template(scope), scope.get("method", "?"), status, took)
            log.info(
                "%s %s %d %.1f ms %s",
                scope.get("method", "?"),
                scope.get("path", ""),
                status,
                took * 1000,
                request_id.decode(errors="replace"),
            )
