"""Networking v2.0: /v2.0/floatingips/{floatingip_id}/port_forwardings."""

from __future__ import annotations

from typing import Any

from fastapi import Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.networking.query import list_response, show_response, sql_prefilters
from kumo.api.networking.resource import service
from kumo.api.render import json_response, no_content
from kumo.api.routing import GatedRouter
from kumo.context import RequestContext
from kumo.network.port_forwarding import service as pf
from kumo.network.validate import member

BASE = "/v2.0/floatingips/{floatingip_id}/port_forwardings"
router = GatedRouter(local="/v2.0/floatingips")


@router.get(BASE)
def list_forwardings(
    floatingip_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    pre = sql_prefilters(request, set(pf.SQL_FILTERS))
    items = pf.list_forwardings(service(request), ctx, floatingip_id, pre)
    return list_response(request, "port_forwardings", items, set(pf.ATTRIBUTES))


@router.get(BASE + "/{pf_id}")
def show_forwarding(
    floatingip_id: str, pf_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    item = pf.show_forwarding(service(request), ctx, floatingip_id, pf_id)
    return show_response(request, "port_forwarding", item)


@router.post(BASE)
def create_forwarding(
    floatingip_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    data = member(body, "port_forwarding")
    item = pf.create_forwarding(service(request), ctx, floatingip_id, data)
    return json_response({"port_forwarding": item}, status=201)


@router.put(BASE + "/{pf_id}")
def update_forwarding(
    floatingip_id: str,
    pf_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    data = member(body, "port_forwarding")
    item = pf.update_forwarding(service(request), ctx, floatingip_id, pf_id, data)
    return json_response({"port_forwarding": item})


@router.delete(BASE + "/{pf_id}")
def delete_forwarding(
    floatingip_id: str, pf_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    pf.delete_forwarding(service(request), ctx, floatingip_id, pf_id)
    return no_content()
