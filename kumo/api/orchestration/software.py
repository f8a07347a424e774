"""``/software_configs`` and ``/software_deployments`` (Heat's software config API)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.orchestration.common import query, service
from kumo.api.render import json_response, no_content
from kumo.context import RequestContext
from kumo.orchestration.software import SoftwareService

router = APIRouter()


def _svc(request: Request) -> SoftwareService:
    return service(request).software


@router.get("/software_configs")
def list_configs(
    project_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    items = _svc(request).list_configs(ctx, project_id, query(request))
    return json_response({"software_configs": items})


@router.post("/software_configs")
def create_config(
    project_id: str, request: Request, body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:  # fmt: skip
    return json_response({"software_config": _svc(request).create_config(ctx, project_id, body)})


@router.get("/software_configs/{config_id}")
def show_config(
    project_id: str, config_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response({"software_config": _svc(request).show_config(ctx, project_id, config_id)})


@router.delete("/software_configs/{config_id}")
def delete_config(
    project_id: str, config_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    _svc(request).delete_config(ctx, project_id, config_id)
    return no_content()


@router.get("/software_deployments")
def list_deployments(
    project_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    items = _svc(request).list_deployments(ctx, project_id, query(request))
    return json_response({"software_deployments": items})


@router.post("/software_deployments")
def create_deployment(
    project_id: str, request: Request, body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:  # fmt: skip
    made = _svc(request).create_deployment(ctx, project_id, body)
    return json_response({"software_deployment": made})


@router.get("/software_deployments/metadata/{server_id}")
def server_metadata(
    project_id: str, server_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response({"metadata": _svc(request).metadata(ctx, project_id, server_id)})


@router.get("/software_deployments/{deployment_id}")
def show_deployment(
    project_id: str, deployment_id: str, request: Request,
    ctx: RequestContext = Depends(authenticate),
) -> Response:  # fmt: skip
    shown = _svc(request).show_deployment(ctx, project_id, deployment_id)
    return json_response({"software_deployment": shown})


@router.put("/software_deployments/{deployment_id}")
def update_deployment(
    project_id: str, deployment_id: str, request: Request, body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:  # fmt: skip
    shown = _svc(request).update_deployment(ctx, project_id, deployment_id, body)
    return json_response({"software_deployment": shown})


@router.delete("/software_deployments/{deployment_id}")
def delete_deployment(
    project_id: str, deployment_id: str, request: Request,
    ctx: RequestContext = Depends(authenticate),
) -> Response:  # fmt: skip
    _svc(request).delete_deployment(ctx, project_id, deployment_id)
    return no_content()
