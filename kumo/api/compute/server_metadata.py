"""``/servers/{id}/metadata`` (and ``/metadata/{key}``), ``/servers/{id}/ips``,
``/servers/{id}/tags`` (2.26+), ``/servers/{id}/os-instance-actions`` and
``/servers/{id}/os-server-password``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.compute.common import base, served_from, service, version
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


@router.get("/servers/{server_id}/os-instance-actions")
def list_instance_actions(
    server_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    items = service(request).instance_actions(ctx, server_id, version(request))
    return json_response({"instanceActions": items})


@router.get("/servers/{server_id}/os-instance-actions/{request_id}")
def show_instance_action(
    server_id: str, request_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    item = service(request).instance_action(ctx, server_id, request_id, version(request))
    return json_response({"instanceAction": item})


@router.get("/servers/{server_id}/tags")
def list_tags(
    server_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    served_from(request, "2.26")
    return json_response({"tags": service(request).server_tags(ctx, server_id)})


@router.put("/servers/{server_id}/tags")
def replace_tags(
    server_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    served_from(request, "2.26")
    return json_response({"tags": service(request).replace_server_tags(ctx, server_id, body)})


@router.delete("/servers/{server_id}/tags")
def delete_tags(
    server_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    served_from(request, "2.26")
    service(request).remove_server_tags(ctx, server_id, None)
    return Response(status_code=204)


@router.get("/servers/{server_id}/tags/{tag}")
def check_tag(
    server_id: str, tag: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    served_from(request, "2.26")
    service(request).server_tag_exists(ctx, server_id, tag)
    return Response(status_code=204)


@router.put("/servers/{server_id}/tags/{tag}")
def add_tag(
    server_id: str, tag: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    served_from(request, "2.26")
    if not service(request).add_server_tag(ctx, server_id, tag):
        return Response(status_code=204)
    location = f"{base(request)}/v2.1/servers/{server_id}/tags/{tag}"
    return Response(status_code=201, headers={"Location": location})


@router.delete("/servers/{server_id}/tags/{tag}")
def delete_tag(
    server_id: str, tag: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    served_from(request, "2.26")
    service(request).remove_server_tags(ctx, server_id, tag)
    return Response(status_code=204)


@router.get("/servers/{server_id}/os-server-password")
def show_password(
    server_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response({"password": service(request).server_password(ctx, server_id)})


@router.delete("/servers/{server_id}/os-server-password")
def clear_password(
    server_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    service(request).clear_server_password(ctx, server_id)
    return Response(status_code=204)
