"""Networking v2.0: /v2.0/availability_zones (the zones of the hosts' agents)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.networking.query import list_response
from kumo.api.networking.resource import service
from kumo.context import RequestContext
from kumo.network import availability_zones
from kumo.policy import authorize

router = APIRouter()
ATTRS = {"name", "resource", "state"}


@router.get("/v2.0/availability_zones")
def list_zones(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    authorize(ctx, "network:get_availability_zone")
    svc = service(request)
    with svc.db.read_session() as s:
        items = availability_zones.zones(s, svc.settings)
    return list_response(request, "availability_zones", items, ATTRS, key="name")
