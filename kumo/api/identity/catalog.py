"""/v3 services, endpoints and regions (read-only: the catalog is built in)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.identity import views
from kumo.api.identity.common import identity
from kumo.api.render import json_response
from kumo.context import RequestContext
from kumo.errors import NotFound
from kumo.identity import catalog

router = APIRouter()


def _services(request: Request) -> list[dict[str, object]]:
    return [
        {**s, "links": {"self": f"{views.v3(request)}/services/{s['id']}"}}
        for s in catalog.services()
    ]


def _endpoints(request: Request) -> list[dict[str, object]]:
    region = identity(request).settings.region
    return [
        {**e, "links": {"self": f"{views.v3(request)}/endpoints/{e['id']}"}}
        for e in catalog.endpoints(views.base_url(request), region)
    ]


@router.get("/v3/services")
def services(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    items = _services(request)
    if "type" in request.query_params:
        items = [s for s in items if s["type"] == request.query_params["type"]]
    return json_response({"services": items, "links": views.collection_links(request, "services")})


@router.get("/v3/services/{service_id}")
def service(
    service_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    for s in _services(request):
        if s["id"] == service_id:
            return json_response({"service": s})
    raise NotFound(f"Could not find service: {service_id}.")


@router.get("/v3/endpoints")
def endpoints(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    items = _endpoints(request)
    for key in ("interface", "service_id", "region_id"):
        if key in request.query_params:
            items = [e for e in items if e[key] == request.query_params[key]]
    return json_response(
        {"endpoints": items, "links": views.collection_links(request, "endpoints")}
    )


@router.get("/v3/endpoints/{endpoint_id}")
def endpoint(
    endpoint_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    for e in _endpoints(request):
        if e["id"] == endpoint_id:
            return json_response({"endpoint": e})
    raise NotFound(f"Could not find endpoint: {endpoint_id}.")


def _region(request: Request) -> dict[str, object]:
    name = identity(request).settings.region
    return {
        "id": name,
        "description": "",
        "parent_region_id": None,
        "links": {"self": f"{views.v3(request)}/regions/{name}"},
    }


@router.get("/v3/regions")
def regions(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    return json_response(
        {"regions": [_region(request)], "links": views.collection_links(request, "regions")}
    )


@router.get("/v3/regions/{region_id}")
def region(
    region_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    if region_id != identity(request).settings.region:
        raise NotFound(f"Could not find region: {region_id}.")
    return json_response({"region": _region(request)})
