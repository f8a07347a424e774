"""``/images`` and their metadata: Nova's image proxy (up to microversion 2.35)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.compute.common import base, params, served_until
from kumo.api.compute.paging import page
from kumo.api.render import json_response
from kumo.compute.proxy_images import ImageProxy
from kumo.context import RequestContext

router = APIRouter()
LAST = "2.35"


def _proxy(request: Request) -> ImageProxy:
    served_until(request, LAST)
    return ImageProxy(request.app.state.runtime.image)


def _list(request: Request, ctx: RequestContext, *, detail: bool) -> Response:
    items = _proxy(request).list_images(ctx, params(request), base(request), detail=detail)
    return json_response(page(request, "images", items))


@router.get("/images")
def list_images(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    return _list(request, ctx, detail=False)


@router.get("/images/detail")
def list_images_detail(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    return _list(request, ctx, detail=True)


@router.get("/images/{image_id}")
def show_image(
    image_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response({"image": _proxy(request).show(ctx, image_id, base(request))})


@router.delete("/images/{image_id}")
def delete_image(
    image_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    _proxy(request).delete(ctx, image_id)
    return Response(status_code=204)


@router.get("/images/{image_id}/metadata")
def image_metadata(
    image_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response({"metadata": _proxy(request).get_metadata(ctx, image_id)})


@router.post("/images/{image_id}/metadata")
def update_image_metadata(
    image_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    meta = _proxy(request).set_metadata(ctx, image_id, body, replace=False)
    return json_response({"metadata": meta})


@router.put("/images/{image_id}/metadata")
def replace_image_metadata(
    image_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    meta = _proxy(request).set_metadata(ctx, image_id, body, replace=True)
    return json_response({"metadata": meta})


@router.get("/images/{image_id}/metadata/{key}")
def image_metadata_item(
    image_id: str, key: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response({"meta": _proxy(request).get_item(ctx, image_id, key)})


@router.put("/images/{image_id}/metadata/{key}")
def set_image_metadata_item(
    image_id: str,
    key: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    return json_response({"meta": _proxy(request).set_item(ctx, image_id, key, body)})


@router.delete("/images/{image_id}/metadata/{key}")
def delete_image_metadata_item(
    image_id: str, key: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    _proxy(request).delete_item(ctx, image_id, key)
    return Response(status_code=204)
