"""``/limits`` and ``/os-quota-sets``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.compute.common import service, version
from kumo.api.render import json_response
from kumo.context import RequestContext

router = APIRouter()


@router.get("/limits")
def limits(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    project = request.query_params.get("tenant_id")
    return json_response({"limits": service(request).limits(ctx, project, version(request))})


@router.get("/os-quota-sets/{project_id}")
def show_quotas(
    project_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response(
        {"quota_set": service(request).quota_set(ctx, project_id, version(request))}
    )


@router.get("/os-quota-sets/{project_id}/defaults")
def default_quotas(
    project_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    quota = service(request).quota_set(ctx, project_id, version(request), defaults=True)
    return json_response({"quota_set": quota})


@router.get("/os-quota-sets/{project_id}/detail")
def detail_quotas(
    project_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    quota = service(request).quota_set(ctx, project_id, version(request), detail=True)
    return json_response({"quota_set": quota})


@router.put("/os-quota-sets/{project_id}")
def update_quotas(
    project_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    quota = service(request).update_quota_set(ctx, project_id, body, version(request))
    return json_response({"quota_set": quota})


@router.delete("/os-quota-sets/{project_id}")
def delete_quotas(
    project_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    service(request).delete_quota_set(ctx, project_id)
    return Response(status_code=202)
