"""ASGI middleware: negotiate the compute microversion for /compute/v2.1 requests.

The version goes to ``request.state.compute_version``; every response under
/compute/v2.1 (errors included) echoes it in both headers with ``Vary``.
An unparsable version is 400, one out of range 406, as Nova answers.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kumo.api.faults import error_body
from kumo.compute import microversion
from kumo.errors import KumoError

PREFIX = "/compute/v2.1"


class MicroversionMiddleware:
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
                microversion.requested(
                    headers.get(microversion.HEADER.lower()),
                    headers.get(microversion.LEGACY_HEADER.lower()),
                )
            )
        except KumoError as exc:
            await _reply(send, path, exc, str(microversion.MIN))
            return
        scope.setdefault("state", {})["compute_version"] = version
        echo = _echo(str(version))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = list(message.get("headers", [])) + echo
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _echo(version: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"openstack-api-version", f"compute {version}".encode()),
        (b"x-openstack-nova-api-version", version.encode()),
        (b"vary", b"OpenStack-API-Version, X-OpenStack-Nova-API-Version"),
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
