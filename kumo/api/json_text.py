"""Request bodies must be JSON text that every part of kumo can keep.

Python's ``json`` module accepts more than JSON: the constants ``NaN``,
``Infinity`` and ``-Infinity``, and ``\\uXXXX`` escapes that decode to a lone
UTF-16 surrogate (``"\\ud800"``) or to NUL. The constants become floats that
no integer check converts (``int(inf)`` raises ``OverflowError``); such
strings cannot be encoded as UTF-8, stored by SQLite or PostgreSQL, or
hashed as a password. ``loads`` parses a body and refuses all of them with a
400 ``BadRequest``; ``StrictJsonMiddleware`` applies it to every JSON request
before a route sees the body, and answers in the dialect of the API asked.

Cost: a body is parsed here only when its bytes contain ``\\u``, ``NaN`` or
``Infinity``; the others pass untouched.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kumo.api.faults import error_body
from kumo.errors import BadRequest

NOT_JSON = "The request body is not valid JSON."
_MARKERS = (b"\\u", b"NaN", b"Infinity")


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unstorable(value: Any) -> bool:
    """Whether any string (key or value) in ``value`` holds a lone surrogate or NUL."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def loads(raw: bytes) -> Any:
    """``raw`` parsed as strict JSON; ``BadRequest`` when it is not, or holds unstorable text."""
    try:
        value = json.loads(raw, parse_constant=_constant)
    except (ValueError, RecursionError):
        raise BadRequest(NOT_JSON) from None
    if _unstorable(value):
        raise BadRequest(NOT_JSON + " A string holds a NUL or an unpaired surrogate escape.")
    return value


def _is_json(scope: Scope) -> bool:
    if str(scope.get("path", "")).endswith("/file"):
        return False  # image data: bytes, whatever the client calls them
    for name, value in scope.get("headers") or ():
        if name.lower() == b"content-type":
            return b"json" in value.lower()
    return True  # no content type: a JSON route parses the body as JSON


class StrictJsonMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([], message, receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if any(marker in body for marker in _MARKERS):
            try:
                loads(body)
            except BadRequest as exc:
                await _reject(scope, send, exc)
                return
        await self.app(scope, _replay([body], None, receive), send)


def _replay(bodies: list[bytes], pending: Message | None, receive: Receive) -> Receive:
    """A ``receive`` that hands over the buffered body (or message) first, then the real one."""
    queue: list[Message] = [{"type": "http.request", "body": b, "more_body": False} for b in bodies]
    if pending is not None:
        queue.append(pending)

    async def replayed() -> Message:
        if queue:
            return queue.pop(0)
        return await receive()

    return replayed


async def _reject(scope: Scope, send: Send, exc: BadRequest) -> None:
    body = error_body(scope.get("path", ""), exc.status, exc.kind, exc.message)
    await send(
        {
            "type": "http.response.start",
            "status": exc.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
