"""``os-hypervisors``, ``os-services``, ``os-availability-zone`` and the
(empty) ``os-aggregates``."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.compute.common import params, service, version
from kumo.api.render import json_response
from kumo.context import RequestContext
from kumo.errors import NotImplementedYet

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


@router.get("/os-hypervisors/{ident}")
def hypervisor(
    ident: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response({"hypervisor": service(request).hypervisor(ctx, ident, version(request))})


@router.get("/os-hypervisors/{ident}/uptime")
def hypervisor_uptime(
    ident: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    """Nova answers 501 when its driver cannot tell; so does kumo (the API
    server is not the host)."""
    service(request).hypervisor(ctx, ident, version(request))  # 403/404 first
    raise NotImplementedYet(f"Hypervisor {ident} does not report its uptime.")


@router.get("/os-aggregates")
def aggregates(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    """Host aggregates: kumo has none (availability zones come from its agents)."""
    service(request).hypervisors(ctx, version(request), detail=False)  # admins only
    return json_response({"aggregates": []})


@router.get("/os-services")
def services(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    return json_response({"services": service(request).services(ctx, params(request))})


@router.get("/os-availability-zone")
def zones(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    items = service(request).availability_zones(ctx, detail=False)
    return json_response({"availabilityZoneInfo": items})


@router.get("/os-availability-zone/detail")
def zones_detail(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    items = service(request).availability_zones(ctx, detail=True)
    return json_response({"availabilityZoneInfo": items})
