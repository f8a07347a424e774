"""The dashboard's session: the identity token in a cookie, CSRF checks.

``SessionMiddleware`` runs before routing. For a request under
``/dashboard/api/`` that carries no ``X-Auth-Token`` it takes the token from
the session cookie; a state-changing request (anything but GET, HEAD,
OPTIONS) must then carry the CSRF token in ``X-CSRF-Token``, or it is
refused with 403 before anything runs. A request under
``/dashboard/api/os/`` is an API request of the user's: its path is
rewritten to the API's own (``/dashboard/api/os/networking/v2.0/networks``
is ``/networking/v2.0/networks``) and the API's route, rule and faults
answer it.

The CSRF token is derived from the identity token (a keyed hash), so any
API server checks it without shared session state, and a page that cannot
read the cookie cannot compute it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from http.cookies import SimpleCookie

from starlette.types import ASGIApp, Receive, Scope, Send

COOKIE = "kumo_session"
CSRF_HEADER = "x-csrf-token"
API = "/dashboard/api/"
OS = "/dashboard/api/os/"
OS_APIS = ("identity", "networking", "compute", "image", "volume", "orchestration")
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token(token: str) -> str:
    return hmac.new(b"kumo-dashboard-csrf", token.encode(), hashlib.sha256).hexdigest()


def session_cookie(token: str, expires_at: float, *, secure: bool) -> str:
    """The Set-Cookie value holding ``token`` until it expires."""
    max_age = max(0, int(expires_at - time.time()))
    flags = "; Secure" if secure else ""
    return f"{COOKIE}={token}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Strict{flags}"


def cleared_cookie() -> str:
    return f"{COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict"


def cookie_token(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: BLE001 - a malformed cookie header is no session
                continue
            if COOKIE in jar and jar[COOKIE].value:
                return jar[COOKIE].value
    return None


async def _refuse(send: Send, status: int, message: str) -> None:
    title = "Forbidden" if status == 403 else "Not Found"
    body = json.dumps({"error": {"code": status, "title": title, "message": message}})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body.encode()})


class SessionMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] not in ("http", "websocket") or not path.startswith(API):
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers", []))
        if not any(n == b"x-auth-token" for n, _ in headers):
            token = cookie_token(headers)
            if token is not None:
                method = scope.get("method", "GET")
                if method not in SAFE:
                    sent = next(
                        (v.decode("latin-1") for n, v in headers if n == b"x-csrf-token"), ""
                    )
                    if not hmac.compare_digest(sent, csrf_token(token)):
                        await _refuse(send, 403, "The request has no valid CSRF token.")
                        return
                headers.append((b"x-auth-token", token.encode("latin-1")))
        scope = dict(scope, headers=headers)
        if path.startswith(OS):
            rest = path[len(OS) - 1 :]
            if rest.split("/", 2)[1] not in OS_APIS:
                await _refuse(send, 404, "No such API.")
                return
            scope["path"] = rest
            scope["raw_path"] = rest.encode()
        await self.app(scope, receive, send)
