"""``/os-server-groups``: create, list, show, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.compute.common import service, version
from kumo.api.render import json_response
from kumo.compute.common import truthy
from kumo.context import RequestContext
from kumo.errors import BadRequest

router = APIRouter()


@router.post("/os-server-groups")
def create_group(
    request: Request, body: Any = Body(None), ctx: RequestContext = Depends(authenticate)
) -> Response:
    group = service(request).create_server_group(ctx, body, version(request))
    return json_response({"server_group": group})


@router.get("/os-server-groups")
def list_groups(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    q = request.query_params
    all_projects = bool(truthy(q.get("all_projects", "false")))
    items = service(request).list_server_groups(ctx, all_projects, version(request))
    try:
        offset = int(q.get("offset", "0"))
        limit = int(q["limit"]) if "limit" in q else len(items)
    except ValueError:
        raise BadRequest("limit and offset must be integers") from None
    return json_response({"server_groups": items[offset : offset + limit]})


@router.get("/os-server-groups/{group_id}")
def show_group(
    group_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    group = service(request).show_server_group(ctx, group_id, version(request))
    return json_response({"server_group": group})


@router.delete("/os-server-groups/{group_id}")
def delete_group(
    group_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    service(request).delete_server_group(ctx, group_id)
    return Response(status_code=204)
