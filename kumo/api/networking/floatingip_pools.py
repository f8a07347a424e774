"""Networking v2.0: /v2.0/floatingip-pools (list only, as in Neutron).

Neutron serves the collection under the dashed path (clients such as
neutron-tempest-plugin ask for it); the API reference has long spelt it
with an underscore, which kumo answers too."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.networking.query import list_response
from kumo.api.networking.resource import service
from kumo.context import RequestContext
from kumo.network import fip_pools

router = APIRouter()


@router.get("/v2.0/floatingip-pools")
@router.get("/v2.0/floatingip_pools", operation_id="list_pools_underscored")
def list_pools(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    items = fip_pools.list_pools(service(request), ctx)
    return list_response(
        request, "floatingip_pools", items, set(fip_pools.ATTRIBUTES), key="subnet_id"
    )
