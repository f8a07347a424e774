"""``/servers/{id}/os-volume_attachments``: list, show, attach, detach."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.compute.common import version
from kumo.api.render import json_response
from kumo.compute import volume_attachments as va
from kumo.context import RequestContext
from kumo.db.uow import run_in_transaction

router = APIRouter()


@router.get("/servers/{server_id}/os-volume_attachments")
def list_attachments(
    server_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    db = request.app.state.runtime.db
    with db.read_session() as s:
        items = [va.view(a, version(request)) for a in va.listing(s, ctx, server_id)]
    return json_response({"volumeAttachments": items})


@router.get("/servers/{server_id}/os-volume_attachments/{volume_id}")
def show_attachment(
    server_id: str, volume_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    db = request.app.state.runtime.db
    with db.read_session() as s:
        out = va.view(va.show(s, ctx, server_id, volume_id), version(request))
    return json_response({"volumeAttachment": out})


@router.post("/servers/{server_id}/os-volume_attachments")
def attach(
    server_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    rt = request.app.state.runtime
    made = run_in_transaction(
        rt.db,
        lambda uow: va.view(va.attach(uow, rt.settings, ctx, server_id, body), version(request)),
    )
    return json_response({"volumeAttachment": made})


@router.delete("/servers/{server_id}/os-volume_attachments/{volume_id}")
def detach(
    server_id: str, volume_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    db = request.app.state.runtime.db
    run_in_transaction(db, lambda uow: va.detach(uow, ctx, server_id, volume_id))
    return Response(status_code=202)
