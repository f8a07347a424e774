"""``/validate``, ``/resource_types``, ``/template_versions`` and the version document."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.orchestration.common import base, flag, service
from kumo.api.render import json_response
from kumo.context import RequestContext
from kumo.orchestration import versions as hot

router = APIRouter()


def version_document(request: Request) -> Response:
    doc = {"versions": [{"id": "v1.0", "status": "CURRENT", "links": [
        {"href": f"{base(request)}/orchestration/v1/", "rel": "self"}]}]}  # fmt: skip
    return json_response(doc, status=300)


@router.post("/validate")
def validate(
    project_id: str, request: Request, body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:  # fmt: skip
    return json_response(service(request).validate(ctx, project_id, body))


@router.get("/resource_types")
def resource_types(
    project_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    names = service(request).resource_types(ctx, project_id)
    if flag(request, "with_description", False):
        svc = service(request)
        items: list[Any] = [
            {"resource_type": n,
             "description": svc.resource_type(ctx, project_id, n)["description"]}
            for n in names
        ]  # fmt: skip
        return json_response({"resource_types": items})
    return json_response({"resource_types": names})


@router.get("/resource_types/{type_name}")
def resource_type(
    project_id: str, type_name: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response(service(request).resource_type(ctx, project_id, type_name))


@router.get("/resource_types/{type_name}/template")
def resource_type_template(
    project_id: str, type_name: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response(service(request).resource_type_template(ctx, project_id, type_name))


@router.get("/template_versions/{version}/functions")
def template_functions(
    project_id: str, version: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    items = service(request).template_functions(ctx, project_id, version)
    return json_response({"template_functions": items})


@router.get("/template_versions")
def template_versions(
    project_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    service(request).resource_types(ctx, project_id)  # the same rule: any project reader
    aliases = {d: [n for n, v in hot.NAMES.items() if v == d] for d in hot.NAMES.values()}
    items = [{"version": f"heat_template_version.{v}", "type": "hot",
              "aliases": [f"heat_template_version.{a}" for a in aliases.get(v, [])]}
             for v in hot.known() if v not in hot.NAMES]  # fmt: skip
    return json_response({"template_versions": items})
