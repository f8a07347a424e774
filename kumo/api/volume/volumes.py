"""``/v3/volumes``: list (summary and detail), show, create, update, delete,
actions (``os-extend``, ``os-retype``, ``os-reset_status``, ...), metadata."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.render import json_response
from kumo.api.volume.common import base, listing, params, service, version
from kumo.context import RequestContext
from kumo.errors import NotFound
from kumo.volume import metadata, volumes
from kumo.volume.common import boolean
from kumo.volume.microversion import require

router = APIRouter()


def _list(request: Request, ctx: RequestContext, detail: bool) -> Response:
    items, more, total = service(request).list_volumes(
        ctx, params(request), base(request), version(request), detail=detail
    )
    return json_response(listing(request, "volumes", items, more, total))


@router.get("/volumes")
def list_volumes(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    return _list(request, ctx, False)


@router.get("/volumes/detail")
def list_volumes_detail(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    return _list(request, ctx, True)


@router.get("/volumes/summary")
def volume_summary(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    ver = version(request)
    require(ver, "3.12", "Volume summary")
    found = service(request).read(lambda s: volumes.summary(s, ctx, params(request), ver))
    return json_response({"volume-summary": found})


@router.get("/volumes/")
@router.put("/volumes/")
@router.delete("/volumes/")
def no_volume_id(ctx: RequestContext = Depends(authenticate)) -> Response:
    """A volume path with an empty id names no volume (404, as Cinder answers;
    without this route a GET would be redirected to the list)."""
    raise NotFound("Volume could not be found: the path names no volume id.")


@router.post("/volumes")
def create_volume(
    request: Request, body: Any = Body(None), ctx: RequestContext = Depends(authenticate)
) -> Response:
    volume = service(request).create_volume(ctx, body, base(request), version(request))
    return json_response({"volume": volume}, status=202)


@router.get("/volumes/{volume_id}")
def show_volume(
    volume_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    volume = service(request).show_volume(ctx, volume_id, base(request), version(request))
    return json_response({"volume": volume})


@router.put("/volumes/{volume_id}")
def update_volume(
    volume_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    volume = service(request).update_volume(ctx, volume_id, body, base(request), version(request))
    return json_response({"volume": volume})


@router.delete("/volumes/{volume_id}")
def delete_volume(
    volume_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    cascade = boolean(request.query_params.get("cascade", "false"), "cascade")
    service(request).delete_volume(ctx, volume_id, cascade=cascade)
    return Response(status_code=202)


@router.post("/volumes/{volume_id}/action")
def volume_action(
    volume_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    status, out = service(request).volume_action(ctx, volume_id, body, version(request))
    return json_response(out, status) if out is not None else Response(status_code=status)


@router.get("/volumes/{volume_id}/metadata")
def show_metadata(
    volume_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response({"metadata": service(request).volume_metadata(ctx, volume_id)})


@router.post("/volumes/{volume_id}/metadata")
def add_metadata(
    volume_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    meta = service(request).set_volume_metadata(ctx, volume_id, body, replace=False)
    return json_response({"metadata": meta})


@router.put("/volumes/{volume_id}/metadata")
def replace_metadata(
    volume_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    meta = service(request).set_volume_metadata(ctx, volume_id, body, replace=True)
    return json_response({"metadata": meta})


@router.get("/volumes/{volume_id}/metadata/{key}")
def show_metadata_item(
    volume_id: str, key: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    meta = service(request).volume_metadata(ctx, volume_id)
    return json_response({"meta": {key: metadata.item(meta, key)}})


@router.put("/volumes/{volume_id}/metadata/{key}")
def update_metadata_item(
    volume_id: str,
    key: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    meta = service(request).set_volume_metadata_item(ctx, volume_id, key, body)
    return json_response({"meta": meta})


@router.delete("/volumes/{volume_id}/metadata/{key}")
def delete_metadata(
    volume_id: str, key: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    service(request).delete_volume_metadata(ctx, volume_id, key)
    return Response(status_code=200)
