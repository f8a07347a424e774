"""``os-hypervisors``, ``os-services``, ``os-availability-zone`` and the
(empty) ``os-aggregates``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.compute.common import params, served_until, service, version
from kumo.api.render import json_response
from kumo.context import RequestContext
from kumo.errors import NotFound

router = APIRouter()


@router.get("/os-hypervisors")
def hypervisors(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    items = service(request).hypervisors(ctx, version(request), detail=False)
    return json_response({"hypervisors": _filtered(request, items)})


@router.get("/os-hypervisors/detail")
def hypervisors_detail(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    items = service(request).hypervisors(ctx, version(request), detail=True)
    return json_response({"hypervisors": _filtered(request, items)})


def _filtered(request: Request, items: list[dict[str, object]]) -> list[dict[str, object]]:
    pattern = request.query_params.get("hypervisor_hostname_pattern")
    if pattern:
        items = [h for h in items if pattern in str(h["hypervisor_hostname"])]
    return items


@router.get("/os-hypervisors/statistics")
def hypervisor_statistics(
    request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response({"hypervisor_statistics": service(request).hypervisor_statistics(ctx)})


@router.get("/os-hypervisors/{pattern}/search")
def search_hypervisors(
    pattern: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    _before_253(request)
    items = service(request).hypervisor_servers(ctx, pattern, servers_too=False)
    return json_response({"hypervisors": items})


@router.get("/os-hypervisors/{pattern}/servers")
def hypervisor_servers(
    pattern: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    _before_253(request)
    items = service(request).hypervisor_servers(ctx, pattern, servers_too=True)
    return json_response({"hypervisors": items})


@router.get("/os-hypervisors/{ident}/uptime")
def hypervisor_uptime(
    ident: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response({"hypervisor": service(request).hypervisor_uptime(ctx, ident)})


def _before_253(request: Request) -> None:
    """``search`` and ``servers`` became query parameters at 2.53."""
    served_until(request, "2.52")


@router.get("/os-hypervisors/{ident}")
def hypervisor(
    ident: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response({"hypervisor": service(request).hypervisor(ctx, ident, version(request))})


@router.get("/os-aggregates")
def aggregates(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    """Host aggregates: kumo has none (availability zones come from its agents)."""
    service(request).hypervisors(ctx, version(request), detail=False)  # admins only
    return json_response({"aggregates": []})


@router.get("/os-services")
def services(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    items = service(request).services(ctx, params(request), version(request))
    return json_response({"services": items})


@router.put("/os-services/{service_id}")
def update_service(
    service_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    if not version(request).at_least("2.53"):
        raise NotFound("The resource could not be found.")
    item = service(request).update_service(ctx, service_id, body, version(request))
    return json_response({"service": item})


@router.get("/os-availability-zone")
def zones(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    items = service(request).availability_zones(ctx, detail=False)
    return json_response({"availabilityZoneInfo": items})


@router.get("/os-availability-zone/detail")
def zones_detail(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    items = service(request).availability_zones(ctx, detail=True)
    return json_response({"availabilityZoneInfo": items})
