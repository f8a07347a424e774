"""Networking v2.0: /v2.0/floatingip_pools (list only, as in Neutron)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.networking.query import list_response
from kumo.api.networking.resource import service
from kumo.context import RequestContext
from kumo.network import fip_pools

router = APIRouter()


@router.get("/v2.0/floatingip_pools")
def list_pools(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    items = fip_pools.list_pools(service(request), ctx)
    return list_response(
        request, "floatingip_pools", items, set(fip_pools.ATTRIBUTES), key="subnet_id"
    )
