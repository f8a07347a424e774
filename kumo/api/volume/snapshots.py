"""``/v3/snapshots``: list, show, create, update, delete, ``os-reset_status``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.render import json_response
from kumo.api.volume.common import listing, params, service, version
from kumo.context import RequestContext
from kumo.volume import metadata

router = APIRouter()


def _list(request: Request, ctx: RequestContext, detail: bool) -> Response:
    items, more, total = service(request).list_snapshots(
        ctx, params(request), version(request), detail=detail
    )
    return json_response(listing(request, "snapshots", items, more, total))


@router.get("/snapshots")
def list_snapshots(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    return _list(request, ctx, False)


@router.get("/snapshots/detail")
def list_snapshots_detail(
    request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return _list(request, ctx, True)


@router.post("/snapshots")
def create_snapshot(
    request: Request, body: Any = Body(None), ctx: RequestContext = Depends(authenticate)
) -> Response:
    snap = service(request).create_snapshot(ctx, body, version(request))
    return json_response({"snapshot": snap}, status=202)


@router.get("/snapshots/{snapshot_id}")
def show_snapshot(
    snapshot_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response(
        {"snapshot": service(request).show_snapshot(ctx, snapshot_id, version(request))}
    )


@router.put("/snapshots/{snapshot_id}")
def update_snapshot(
    snapshot_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    snap = service(request).update_snapshot(ctx, snapshot_id, body, version(request))
    return json_response({"snapshot": snap})


@router.delete("/snapshots/{snapshot_id}")
def delete_snapshot(
    snapshot_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    service(request).delete_snapshot(ctx, snapshot_id)
    return Response(status_code=202)


@router.post("/snapshots/{snapshot_id}/action")
def snapshot_action(
    snapshot_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    service(request).snapshot_action(ctx, snapshot_id, body)
    return Response(status_code=202)


@router.get("/snapshots/{snapshot_id}/metadata")
def show_snapshot_metadata(
    snapshot_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response({"metadata": service(request).snapshot_metadata(ctx, snapshot_id)})


@router.post("/snapshots/{snapshot_id}/metadata")
def add_snapshot_metadata(
    snapshot_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    meta = service(request).set_snapshot_metadata(ctx, snapshot_id, body, replace=False)
    return json_response({"metadata": meta})


@router.put("/snapshots/{snapshot_id}/metadata")
def replace_snapshot_metadata(
    snapshot_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    meta = service(request).set_snapshot_metadata(ctx, snapshot_id, body, replace=True)
    return json_response({"metadata": meta})


@router.get("/snapshots/{snapshot_id}/metadata/{key}")
def show_snapshot_metadata_item(
    snapshot_id: str, key: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    meta = service(request).snapshot_metadata(ctx, snapshot_id)
    return json_response({"meta": {key: metadata.item(meta, key)}})


@router.put("/snapshots/{snapshot_id}/metadata/{key}")
def update_snapshot_metadata_item(
    snapshot_id: str,
    key: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    meta = service(request).set_snapshot_metadata_item(ctx, snapshot_id, key, body)
    return json_response({"meta": meta})


@router.delete("/snapshots/{snapshot_id}/metadata/{key}")
def delete_snapshot_metadata_item(
    snapshot_id: str, key: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    service(request).delete_snapshot_metadata(ctx, snapshot_id, key)
    return Response(status_code=200)
