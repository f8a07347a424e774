"""``/os-hosts`` (admin; served up to microversion 2.42, as Nova does)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.compute.common import served_until, service
from kumo.api.render import json_response
from kumo.context import RequestContext
from kumo.errors import NotFound

router = APIRouter()
LAST = "2.42"


@router.get("/os-hosts")
def list_hosts(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    served_until(request, LAST)
    zone = request.query_params.get("zone") or None
    return json_response({"hosts": service(request).list_hosts(ctx, zone)})


@router.get("/os-hosts/{host_name}")
def show_host(
    host_name: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    served_until(request, LAST)
    return json_response({"host": service(request).show_host(ctx, host_name)})


@router.put("/os-hosts/{host_name}")
def update_host(
    host_name: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    served_until(request, LAST)
    return json_response(service(request).update_host(ctx, host_name, body))


@router.get("/os-hosts/{host_name}/{action}")
def host_power_action(
    host_name: str, action: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    served_until(request, LAST)
    if action not in ("startup", "shutdown", "reboot"):
        raise NotFound("The resource could not be found.")
    service(request).host_power_action(ctx, host_name, action)
    return Response(status_code=200)  # pragma: no cover - power actions always raise
