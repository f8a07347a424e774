"""``/v3/attachments`` (microversion 3.27 and later; ``os-complete`` 3.44)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.render import json_response
from kumo.api.volume.common import params, service, version
from kumo.context import RequestContext
from kumo.volume.microversion import require

router = APIRouter()


def _v(request: Request, at_least: str = "3.27") -> None:
    require(version(request), at_least, "The attachments API")


@router.get("/attachments")
def list_attachments(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    _v(request)
    items = service(request).list_attachments(ctx, params(request), detail=False)
    return json_response({"attachments": items})


@router.get("/attachments/detail")
def list_attachments_detail(
    request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    _v(request)
    items = service(request).list_attachments(ctx, params(request), detail=True)
    return json_response({"attachments": items})


@router.post("/attachments")
def create_attachment(
    request: Request, body: Any = Body(None), ctx: RequestContext = Depends(authenticate)
) -> Response:
    _v(request)
    return json_response({"attachment": service(request).create_attachment(ctx, body)})


@router.get("/attachments/{attachment_id}")
def show_attachment(
    attachment_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    _v(request)
    return json_response({"attachment": service(request).show_attachment(ctx, attachment_id)})


@router.put("/attachments/{attachment_id}")
def update_attachment(
    attachment_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    _v(request)
    out = service(request).update_attachment(ctx, attachment_id, body)
    return json_response({"attachment": out})


@router.post("/attachments/{attachment_id}/action")
def attachment_action(
    attachment_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    _v(request, "3.44")
    service(request).complete_attachment(ctx, attachment_id, body)
    return Response(status_code=204)


@router.delete("/attachments/{attachment_id}")
def delete_attachment(
    attachment_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    _v(request)
    return json_response({"attachments": service(request).delete_attachment(ctx, attachment_id)})
