"""The dashboard's HTTP routes: the page, the session, page data, events."""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
import time
from pathlib import Path
from typing import Any

from fastapi import Body, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, Response, StreamingResponse

from kumo.api.auth import authenticate
from kumo.api.render import json_response
from kumo.api.routing import GatedRouter
from kumo.context import RequestContext
from kumo.dashboard import events, pages, service_pages, session, sources, topology
from kumo.errors import BadRequest, KumoError, NotFound, Unauthorized
from kumo.runtime import Runtime

STATIC = Path(__file__).parent / "static"
TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".txt": "text/plain"}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
        "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

router = GatedRouter(local="/dashboard")


def _rt(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def _root(request: Request) -> str:
    """The APIs' root URL (the links in their views start with it)."""
    settings = _rt(request).settings
    return str(settings.public_url or str(request.base_url)).rstrip("/")


def _compute_base(request: Request) -> str:
    return _root(request) + "/compute"


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


BOOT = '<script id="boot" type="application/json">null</script>'


@functools.cache
def _version() -> str:
    """A digest of the static files: their URLs carry it, so browsers may
    keep them for good and still load new ones after an upgrade."""
    digest = hashlib.sha256()
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(STATIC).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()[:12]


EARLY = '<script src="/dashboard/static/early.js"></script>'


@functools.cache
def _early() -> tuple[str, str]:
    """early.js, to be inlined in the page (it runs as the head is parsed,
    with no file to look up first), and the CSP source that allows it."""
    code = (STATIC / "early.js").read_text()
    digest = base64.b64encode(hashlib.sha256(code.encode()).digest()).decode()
    return code, f"'sha256-{digest}'"


@functools.cache
def _page() -> str:
    html = (STATIC / "index.html").read_text()
    html = re.sub(r'(/dashboard/static/[^"?]+)"', rf'\1?v={_version()}"', html)
    return html.replace(
        EARLY.replace('.js"', f'.js?v={_version()}"'), f"<script>{_early()[0]}</script>"
    )


def _page_headers() -> dict[str, str]:
    csp = SECURITY_HEADERS["Content-Security-Policy"]
    return dict(
        SECURITY_HEADERS, **{"Content-Security-Policy": f"{csp}; script-src 'self' {_early()[1]}"}
    )


@router.get("/dashboard")
@router.get("/dashboard/")
def index(request: Request) -> Response:
    """The page; with the session in it when the cookie holds a valid one
    (saves the browser a round trip before it can ask for a page's data)."""
    html = _page()
    token = request.cookies.get(session.COOKIE)
    boot = None
    if token:
        rt = _rt(request)
        try:
            boot = _session_view(rt, rt.identity.validate_token(token), token)
        except KumoError:
            boot = None  # expired or revoked: the login form
    if boot is not None:
        text = json.dumps(boot).replace("<", "\\u003c")
        html = html.replace(BOOT, BOOT.replace(">null<", f">{text}<"))
    return Response(
        html, media_type="text/html", headers={"Cache-Control": "no-store", **_page_headers()}
    )


@router.get("/dashboard/static/{path:path}")
def static(path: str, v: str = "") -> Response:
    target = (STATIC / path).resolve()
    if not target.is_file() or STATIC.resolve() not in target.parents:
        raise NotFound("The resource could not be found.")
    cache = "public, max-age=31536000, immutable" if v == _version() else "no-cache"
    return FileResponse(
        target,
        media_type=TYPES.get(target.suffix, "application/octet-stream"),
        headers={"Cache-Control": cache, **SECURITY_HEADERS},
    )


def _session_view(rt: Runtime, ctx: RequestContext, token: str) -> dict[str, Any]:
    payload, _ = rt.identity.check_subject_token(token)
    from kumo.policy import allowed

    return {
        "user": {"id": ctx.user_id, "name": ctx.user_name},
        "project": {"id": ctx.project_id, "name": ctx.project_name},
        "roles": sorted(ctx.roles),
        "projects": [{"id": p.id, "name": p.name} for p in sources.user_projects(rt, ctx.user_id)],
        "expires_at": payload.expires_at,
        "csrf": session.csrf_token(token),
        "admin": allowed(ctx, "dashboard:admin_pages"),
    }


def _login(rt: Runtime, auth: dict[str, Any]) -> tuple[str, float]:
    token, payload = rt.identity.authenticate(auth)
    return token, payload.expires_at


def _scope(project: str) -> dict[str, Any]:
    return {"project": {"name": project, "domain": {"id": "default"}}}


@router.post("/dashboard/api/login")
def login(request: Request, body: Any = Body(None)) -> Response:
    """Password login scoped to a project (by name); sets the session cookie.

    Only a JSON body is taken: a page of another site can post a form (plain
    text included) here but not JSON without the browser asking first, so it
    cannot log the browser in to an account of its choosing."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise BadRequest("The login takes a JSON body.")
    if not isinstance(body, dict) or not all(
        isinstance(body.get(k), str) and body[k] for k in ("username", "password", "project")
    ):
        raise BadRequest("Give a username, a password and a project.")
    rt = _rt(request)
    auth = {
        "identity": {
            "methods": ["password"],
            "password": {
                "user": {
                    "name": body["username"],
                    "domain": {"id": "default"},
                    "password": body["password"],
                }
            },
        },
        "scope": _scope(body["project"]),
    }
    token, expires_at = _login(rt, auth)
    ctx = rt.identity.validate_token(token)
    out = json_response(_session_view(rt, ctx, token))
    out.headers["Set-Cookie"] = session.session_cookie(token, expires_at, secure=_secure(request))
    return out


@router.get("/dashboard/api/session")
def get_session(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    return json_response(_session_view(_rt(request), ctx, ctx.token_id))


@router.post("/dashboard/api/logout")
def logout(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    """Revoke the session's token (and the one it was exchanged from)."""
    rt = _rt(request)
    payload, _ = rt.identity.check_subject_token(ctx.token_id)
    rt.identity.revoke_token(ctx.token_id)
    if payload.parent_audit_id:
        rt.identity.add_revocation(audit_id=payload.parent_audit_id, expires=payload.expires_at)
    out = Response(status_code=204)
    out.headers["Set-Cookie"] = session.cleared_cookie()
    return out


@router.post("/dashboard/api/switch-project")
def switch_project(
    request: Request, body: Any = Body(None), ctx: RequestContext = Depends(authenticate)
) -> Response:
    """Exchange the session's token for one scoped to another of the user's projects."""
    if not isinstance(body, dict) or not isinstance(body.get("project"), str):
        raise BadRequest("Give the project to switch to.")
    rt = _rt(request)
    auth = {
        "identity": {"methods": ["token"], "token": {"id": ctx.token_id}},
        "scope": {"project": {"id": body["project"]}},
    }
    token, expires_at = _login(rt, auth)
    new = rt.identity.validate_token(token)
    out = json_response(_session_view(rt, new, token))
    out.headers["Set-Cookie"] = session.session_cookie(token, expires_at, secure=_secure(request))
    return out


def _with_revision(rt: Runtime, read: Any) -> Response:
    """A page's data and the watch feed's revision read before it: an
    event stream asked for with ``after`` set to it misses no change made
    since the data was read."""
    revision = sources.revision(rt)
    data = read()
    data["revision"] = revision
    return json_response(data)


@router.get("/dashboard/api/pages/instances")
def instances_page(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    params = dict(request.query_params.items())
    rt = _rt(request)
    return _with_revision(rt, lambda: pages.instances(rt, ctx, params, _compute_base(request)))


@router.get("/dashboard/api/pages/topology")
def topology_page(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    params = dict(request.query_params.items())
    rt = _rt(request)
    return _with_revision(rt, lambda: topology.page(rt, ctx, params, _compute_base(request)))


@router.get("/dashboard/api/pages/{page}")
def page(page: str, request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    params = dict(request.query_params.items())
    rt = _rt(request)
    linked = pages.LINKED_PAGES.get(page) or service_pages.PAGES.get(page)
    if linked is not None:
        return _with_revision(rt, lambda: linked(rt, ctx, params, _root(request)))
    found = pages.PAGES.get(page) or topology.PAGES.get(page)
    if found is None:
        raise NotFound(f"No page {page}.")
    return _with_revision(rt, lambda: found(rt, ctx, params))


@router.get("/dashboard/api/admin/{page}")
def admin_page(
    page: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    found = pages.ADMIN_PAGES.get(page)
    if found is None:
        raise NotFound(f"No page {page}.")
    return json_response(found(_rt(request), ctx, dict(request.query_params.items())))


@router.get("/dashboard/api/events")
async def event_stream(
    request: Request, after: int | None = None, ctx: RequestContext = Depends(authenticate)
) -> Response:
    """Server-sent events: the caller's instances' rows as they change, and
    a ``topology`` event when anything it may see on the topology changed;
    from ``after`` (the revision a page's data was read at) or from now."""
    rt = _rt(request)
    expires = await run_in_threadpool(lambda: rt.identity.check_subject_token(ctx.token_id)[0])
    if expires.expires_at <= time.time():
        raise Unauthorized("The session has expired.")
    stream = events.stream(request, ctx, _compute_base(request), expires.expires_at, after)
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
