"""``/os-keypairs``: create or import, list, show, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.compute.common import service, version
from kumo.api.compute.paging import page
from kumo.api.render import json_response
from kumo.context import RequestContext

router = APIRouter()


def _user(request: Request) -> str | None:
    return request.query_params.get("user_id") if version(request).at_least("2.10") else None


@router.post("/os-keypairs")
def create_keypair(
    request: Request, body: Any = Body(None), ctx: RequestContext = Depends(authenticate)
) -> Response:
    v = version(request)
    made = service(request).create_keypair(ctx, body, v)
    return json_response({"keypair": made}, status=201 if v.at_least("2.2") else 200)


@router.get("/os-keypairs")
def list_keypairs(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    items = service(request).list_keypairs(ctx, _user(request), version(request))
    if not version(request).at_least("2.35"):
        return json_response({"keypairs": items})
    flat = [dict(i["keypair"], id=i["keypair"]["name"]) for i in items]
    paged = page(request, "keypairs", flat)
    paged["keypairs"] = [
        {"keypair": {k: v for k, v in i.items() if k != "id"}} for i in paged["keypairs"]
    ]
    return json_response(paged)


@router.get("/os-keypairs/{name}")
def show_keypair(
    name: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    kp = service(request).show_keypair(ctx, name, _user(request), version(request))
    return json_response({"keypair": kp})


@router.delete("/os-keypairs/{name}")
def delete_keypair(
    name: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    service(request).delete_keypair(ctx, name, _user(request))
    return Response(status_code=204 if version(request).at_least("2.2") else 202)
