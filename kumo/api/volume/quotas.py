"""``/v3/os-quota-sets``, ``/v3/os-quota-class-sets`` and ``/v3/limits``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.render import json_response
from kumo.api.volume.common import service
from kumo.context import RequestContext
from kumo.volume.common import boolean

router = APIRouter()


@router.get("/limits")
def limits(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    project = request.query_params.get("project_id") or request.query_params.get("tenant_id")
    return json_response({"limits": service(request).limits(ctx, project)})


@router.get("/os-quota-sets/{project_id}")
def show_quotas(
    project_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    usage = boolean(request.query_params.get("usage", "false"), "usage")
    return json_response({"quota_set": service(request).quota_set(ctx, project_id, usage=usage)})


@router.get("/os-quota-sets/{project_id}/defaults")
def default_quotas(
    project_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response({"quota_set": service(request).quota_set(ctx, project_id, defaults=True)})


@router.put("/os-quota-sets/{project_id}")
def update_quotas(
    project_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    return json_response({"quota_set": service(request).update_quota_set(ctx, project_id, body)})


@router.delete("/os-quota-sets/{project_id}")
def delete_quotas(
    project_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    service(request).delete_quota_set(ctx, project_id)
    return Response(status_code=200)


@router.get("/os-quota-class-sets/{class_name}")
def show_quota_class(
    class_name: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response({"quota_class_set": service(request).quota_class(ctx, class_name)})


@router.put("/os-quota-class-sets/{class_name}")
def update_quota_class(
    class_name: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    out = service(request).update_quota_class(ctx, class_name, body)
    return json_response({"quota_class_set": out})
