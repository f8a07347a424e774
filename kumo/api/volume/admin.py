"""``/v3/os-availability-zone``, ``/v3/os-services`` (with ``failover_host``),
``/v3/scheduler-stats/get_pools`` and ``/v3/messages`` (3.3)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.render import json_response
from kumo.api.volume.common import params, service, version
from kumo.context import RequestContext
from kumo.errors import NotFound
from kumo.volume import extensions, hosts, pools
from kumo.volume.common import boolean
from kumo.volume.microversion import require

router = APIRouter()
SERVICE_ACTIONS = ("enable", "disable", "disable-log-reason")


@router.get("/os-availability-zone")
def zones(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    return json_response({"availabilityZoneInfo": service(request).availability_zones(ctx)})


@router.get("/os-services")
def services(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    found = service(request).services(ctx, params(request), version(request))
    return json_response({"services": found})


@router.put("/os-services/failover_host")
def failover_host(
    request: Request, body: Any = Body(None), ctx: RequestContext = Depends(authenticate)
) -> Response:
    """Promote the replicas of a failed storage host's replicated volumes (202, no body)."""
    service(request).failover_host(ctx, body)
    return Response(status_code=202)


@router.put("/os-services/failover")
def failover(
    request: Request, body: Any = Body(None), ctx: RequestContext = Depends(authenticate)
) -> Response:
    """``failover_host`` under its 3.26 name (which Cinder, and openstacksdk
    once the server's maximum is 3.26 or later, use at any microversion)."""
    service(request).failover_host(ctx, body)
    return Response(status_code=202)


@router.put("/os-services/{action}")
def update_service(
    action: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    if action in ("freeze", "thaw"):
        service(request).write(lambda uow: pools.freeze(uow, ctx, action, body))
    if action not in SERVICE_ACTIONS:
        raise NotFound(f"Unknown service action {action}.")
    return json_response(service(request).set_service(ctx, action, body))


@router.get("/scheduler-stats/get_pools")
def get_pools(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    detail = boolean(request.query_params.get("detail", "false"), "detail")
    return json_response({"pools": service(request).get_pools(ctx, detail)})


@router.get("/messages")
def list_messages(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    require(version(request), "3.3", "Messages")
    return json_response({"messages": service(request).list_messages(ctx, params(request))})


@router.get("/messages/{message_id}")
def show_message(
    message_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    require(version(request), "3.3", "Messages")
    return json_response({"message": service(request).show_message(ctx, message_id)})


@router.delete("/messages/{message_id}")
def delete_message(
    message_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    require(version(request), "3.3", "Messages")
    service(request).delete_message(ctx, message_id)
    return Response(status_code=204)


@router.get("/os-hosts")
def list_hosts(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    svc, ver = service(request), version(request)
    return json_response({"hosts": svc.read(lambda s: hosts.listing(s, svc.settings, ctx, ver))})


@router.get("/os-hosts/{host_name}")
def show_host(
    host_name: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response({"host": service(request).read(lambda s: hosts.show(s, ctx, host_name))})


@router.get("/capabilities/{host_name}")
def show_capabilities(
    host_name: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    svc = service(request)
    return json_response(svc.read(lambda s: hosts.capabilities(s, svc.settings, ctx, host_name)))


@router.get("/extensions")
def list_extensions(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    return json_response({"extensions": extensions.listing()})
