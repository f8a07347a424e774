"""``os-simple-tenant-usage``: usage per project over a period (Nova-compatible).

``GET /os-simple-tenant-usage?start=&end=&detailed=1`` (admin: every
project) and ``GET /os-simple-tenant-usage/{project_id}?start=&end=``
(that project's readers). ``start`` and ``end`` default to now.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.compute.common import params, service
from kumo.api.render import json_response
from kumo.context import RequestContext

router = APIRouter()


@router.get("/os-simple-tenant-usage")
def tenant_usages(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    return json_response({"tenant_usages": service(request).tenant_usages(ctx, params(request))})


@router.get("/os-simple-tenant-usage/{project_id}")
def tenant_usage(
    project_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    found = service(request).tenant_usage(ctx, project_id, params(request))
    return json_response({"tenant_usage": found})
