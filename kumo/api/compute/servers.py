"""``/servers``: create, list, detail, show, update, delete, actions."""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.compute.common import base, params, service, version
from kumo.api.compute.paging import page
from kumo.api.render import json_response
from kumo.context import RequestContext

router = APIRouter()


@router.post("/servers")
def create_server(
    request: Request, body: Any = Body(None), ctx: RequestContext = Depends(authenticate)
) -> Response:
    out = service(request).create_servers(ctx, body, base(request), version(request))
    headers = {}
    if "server" in out:
        headers["Location"] = out["server"]["links"][0]["href"]
    return json_response(out, status=202, headers=headers)


def _list(request: Request, ctx: RequestContext, *, detail: bool) -> Response:
    items = service(request).list_servers(
        ctx, params(request), base(request), version(request), detail=detail
    )
    return json_response(page(request, "servers", items))


@router.get("/servers")
def list_servers(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    return _list(request, ctx, detail=False)


@router.get("/servers/detail")
def list_servers_detail(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    return _list(request, ctx, detail=True)


@router.get("/servers/{server_id}")
def show_server(
    server_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    server = service(request).show_server(ctx, server_id, base(request), version(request))
    return json_response({"server": server})


@router.put("/servers/{server_id}")
def update_server(
    server_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    server = service(request).update_server(ctx, server_id, body, base(request), version(request))
    return json_response({"server": server})


@router.delete("/servers/{server_id}")
def delete_server(
    server_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    service(request).delete_server(ctx, server_id)
    return Response(status_code=204)


@router.post("/servers/{server_id}/action")
def server_action(
    server_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    if isinstance(body, dict) and "os-getSerialConsole" in body:
        from kumo.api.compute.console import serial_console_action

        return serial_console_action(request, ctx, server_id, body)
    if isinstance(body, dict) and "os-getConsoleOutput" in body:
        from kumo.api.compute.console import console_output_action

        return console_output_action(request, ctx, server_id, body)
    svc = service(request)
    made = svc.server_action(ctx, server_id, body, version(request))
    if isinstance(body, dict) and "createImage" in body and made:
        if version(request).at_least("2.45"):  # the image's id in the body, as Nova answers
            return json_response({"image_id": made}, status=202)
        image_url = f"{base(request).removesuffix('/compute')}/image/v2/images/{made}"
        return Response(status_code=202, headers={"Location": image_url})
    if isinstance(body, dict) and "rebuild" in body:  # answered with the server, as Nova does
        out = svc.changed_server(ctx, server_id, base(request), version(request), rebuild=True)
        given = body["rebuild"].get("adminPass") if isinstance(body["rebuild"], dict) else None
        out["adminPass"] = given if isinstance(given, str) and given else secrets.token_urlsafe(9)
        return json_response({"server": out}, status=202)
    if isinstance(body, dict) and "confirmResize" in body:
        return Response(status_code=204)  # as Nova answers it
    return Response(status_code=202)


@router.get("/servers/{server_id}/os-interface")
def list_interfaces(
    server_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    items = service(request).list_interfaces(ctx, server_id, version(request))
    return json_response({"interfaceAttachments": items})


@router.post("/servers/{server_id}/os-interface")
def attach_interface(
    server_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    item = service(request).attach_interface(ctx, server_id, body, version(request))
    return json_response({"interfaceAttachment": item})


@router.get("/servers/{server_id}/os-interface/{port_id}")
def show_interface(
    server_id: str, port_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    item = service(request).show_interface(ctx, server_id, port_id, version(request))
    return json_response({"interfaceAttachment": item})


@router.delete("/servers/{server_id}/os-interface/{port_id}")
def detach_interface(
    server_id: str, port_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    service(request).detach_interface(ctx, server_id, port_id)
    return Response(status_code=202)
