"""``/v2/images``: list (filters, paging), show, create, JSON-patch update, tags,
deactivate/reactivate, delete. The data routes are in ``data.py``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from kumo.api import json_text
from kumo.api.auth import authenticate
from kumo.api.render import json_response, no_content
from kumo.context import RequestContext
from kumo.errors import BadRequest, NotFound
from kumo.image.service import ImageService

router = APIRouter()
MAX_LIMIT = 1000


def service(request: Request) -> ImageService:
    svc: ImageService = request.app.state.runtime.image
    return svc


async def read_json(request: Request) -> Any:
    """The body as strict JSON (whatever its content type, as Glance reads it)."""
    raw = await request.body()
    return json_text.loads(raw) if raw else None


@router.get("/v2/images/")
@router.delete("/v2/images/")
def no_image_id(ctx: RequestContext = Depends(authenticate)) -> Response:
    """An image path with an empty id names no image (404, as Glance answers;
    without this route a GET would be redirected to the list)."""
    raise NotFound("The resource could not be found.")


@router.get("/v2/images")
def list_images(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    q = request.query_params
    params = {k: v for k, v in q.items() if k not in ("limit", "marker")}
    items = service(request).list_images(ctx, params)
    if "marker" in q:
        index = next((i for i, it in enumerate(items) if it["id"] == q["marker"]), None)
        if index is None:
            raise BadRequest(f"Invalid marker. Image {q['marker']} could not be found.")
        items = items[index + 1 :]
    limit = MAX_LIMIT
    if "limit" in q:
        try:
            limit = min(int(q["limit"]), MAX_LIMIT)
        except ValueError:
            raise BadRequest("limit param must be an integer") from None
        if limit < 0:
            raise BadRequest("limit param must be positive")
    body: dict[str, Any] = {
        "images": items[:limit],
        "first": "/v2/images",
        "schema": "/v2/schemas/images",
    }
    if len(items) > limit > 0:
        rest = [(k, v) for k, v in q.multi_items() if k != "marker"]
        rest.append(("marker", items[limit - 1]["id"]))
        body["next"] = "/v2/images?" + urlencode(rest)
    return json_response(body)


@router.get("/v2/images/{image_id}")
def show_image(
    image_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response(service(request).show_image(ctx, image_id))


@router.post("/v2/images")
async def create_image(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    body = await read_json(request)
    image = await run_in_threadpool(service(request).create_image, ctx, body)
    return json_response(image, status=201, headers={"Location": image["self"]})


@router.patch("/v2/images/{image_id}")
async def update_image(
    image_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    patch = await read_json(request)
    return json_response(
        await run_in_threadpool(service(request).update_image, ctx, image_id, patch)
    )


@router.put("/v2/images/{image_id}/tags/{tag}")
def add_tag(
    image_id: str, tag: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    service(request).add_tag(ctx, image_id, tag)
    return no_content()


@router.delete("/v2/images/{image_id}/tags/{tag}")
def remove_tag(
    image_id: str, tag: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    service(request).remove_tag(ctx, image_id, tag)
    return no_content()


@router.post("/v2/images/{image_id}/actions/deactivate")
def deactivate(
    image_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    service(request).set_active(ctx, image_id, False)
    return no_content()


@router.post("/v2/images/{image_id}/actions/reactivate")
def reactivate(
    image_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    service(request).set_active(ctx, image_id, True)
    return no_content()


@router.delete("/v2/images/{image_id}")
def delete_image(
    image_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    service(request).delete_image(ctx, image_id)
    return no_content()
