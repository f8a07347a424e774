"""ASGI middleware: negotiate the volume microversion for /volume/v3 requests.

The version goes to ``request.state.volume_version``; every response under
/volume/v3 (errors included) says it in ``OpenStack-API-Version: volume
3.X`` with ``Vary``. An unparsable version is 400, one out of range 406.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kumo.api.faults import error_body
from kumo.errors import KumoError
from kumo.volume import microversion

PREFIX = "/volume/v3"


class VolumeMicroversionMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        try:
            version = microversion.negotiate(
                microversion.requested(headers.get("openstack-api-version"))
            )
        except KumoError as exc:
            await _reply(send, path, exc, str(microversion.MIN))
            return
        scope.setdefault("state", {})["volume_version"] = version
        echo = _echo(str(version))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = list(message.get("headers", [])) + echo
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _echo(version: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"openstack-api-version", f"volume {version}".encode()),
        (b"vary", b"OpenStack-API-Version"),
    ]


async def _reply(send: Send, path: str, exc: KumoError, version: str) -> None:
    body = error_body(path, exc.status, exc.kind, exc.message)
    headers: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *_echo(version),
    ]
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
