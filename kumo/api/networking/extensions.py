"""Networking v2.0: /v2.0/extensions."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.networking.resource import service
from kumo.api.render import json_response
from kumo.context import RequestContext
from kumo.errors import NotFound
from kumo.network.extensions import as_dicts

router = APIRouter()


def _listed(request: Request) -> list[dict[str, object]]:
    return as_dicts(auto_allocation=service(request).auto_allocation_available())


@router.get("/v2.0/extensions")
def list_extensions(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    return json_response({"extensions": _listed(request)})


@router.get("/v2.0/extensions/{alias}")
def show_extension(
    alias: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    for ext in _listed(request):
        if ext["alias"] == alias:
            return json_response({"extension": ext})
    raise NotFound(f"Extension with alias {alias} does not exist", kind="ExtensionNotFound")
