"""``/servers/{id}/metadata`` (and ``/metadata/{key}``) and ``/servers/{id}/ips``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.compute.common import service
from kumo.api.render import json_response
from kumo.context import RequestContext

router = APIRouter()


@router.get("/servers/{server_id}/metadata")
def list_metadata(
    server_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response({"metadata": service(request).server_metadata(ctx, server_id)})


@router.post("/servers/{server_id}/metadata")
def merge_metadata(
    server_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    meta = service(request).merge_server_metadata(ctx, server_id, body)
    return json_response({"metadata": meta})


@router.put("/servers/{server_id}/metadata")
def replace_metadata(
    server_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    meta = service(request).replace_server_metadata(ctx, server_id, body)
    return json_response({"metadata": meta})


@router.get("/servers/{server_id}/metadata/{key}")
def show_metadata_item(
    server_id: str, key: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response({"meta": service(request).server_metadata_item(ctx, server_id, key)})


@router.put("/servers/{server_id}/metadata/{key}")
def set_metadata_item(
    server_id: str,
    key: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    meta = service(request).set_server_metadata_item(ctx, server_id, key, body)
    return json_response({"meta": meta})


@router.delete("/servers/{server_id}/metadata/{key}")
def delete_metadata_item(
    server_id: str, key: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    service(request).delete_server_metadata_item(ctx, server_id, key)
    return Response(status_code=204)


@router.get("/servers/{server_id}/ips")
def list_addresses(
    server_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response({"addresses": service(request).server_addresses(ctx, server_id)})


@router.get("/servers/{server_id}/ips/{network}")
def show_addresses(
    server_id: str, network: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response(service(request).server_addresses(ctx, server_id, network))
