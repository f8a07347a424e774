"""Networking v2.0: /v2.0/auto-allocated-topology/{project_id} ("get me a network").

GET shows the project's topology, making it the first time (Neutron's
behaviour); ``?fields=dry-run`` only checks that it could be made.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.networking.resource import service
from kumo.api.render import json_response
from kumo.context import RequestContext

router = APIRouter()


@router.get("/v2.0/auto-allocated-topology/{project_id}")
def show_topology(
    project_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    dry_run = "dry-run" in request.query_params.getlist("fields")
    topology = service(request).auto_allocated_topology(ctx, project_id, dry_run=dry_run)
    return json_response({"auto_allocated_topology": topology})


@router.delete("/v2.0/auto-allocated-topology/{project_id}")
def delete_topology(
    project_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    service(request).delete_auto_allocated_topology(ctx, project_id)
    return Response(status_code=204)
