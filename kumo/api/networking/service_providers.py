"""Networking v2.0: /v2.0/service-providers (list only, as in Neutron)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.networking.query import list_response
from kumo.context import RequestContext
from kumo.network import service_providers

router = APIRouter()


@router.get("/v2.0/service-providers")
def list_providers(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    items = service_providers.list_providers(ctx)
    return list_response(
        request, "service_providers", items, set(service_providers.ATTRIBUTES), key="name"
    )
