"""``/v2/images/{id}/members``: share an image with projects, and their answers."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.image.images import read_json, service
from kumo.api.render import json_response, no_content
from kumo.context import RequestContext

router = APIRouter()


@router.get("/v2/images/{image_id}/members")
def list_members(
    image_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    items = service(request).list_members(ctx, image_id)
    return json_response({"members": items, "schema": "/v2/schemas/members"})


@router.post("/v2/images/{image_id}/members")
async def add_member(
    image_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    body = await read_json(request)
    return json_response(await run_in_threadpool(service(request).add_member, ctx, image_id, body))


@router.get("/v2/images/{image_id}/members/{member_id}")
def show_member(
    image_id: str, member_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response(service(request).show_member(ctx, image_id, member_id))


@router.put("/v2/images/{image_id}/members/{member_id}")
async def update_member(
    image_id: str, member_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    body = await read_json(request)
    return json_response(
        await run_in_threadpool(service(request).update_member, ctx, image_id, member_id, body)
    )


@router.delete("/v2/images/{image_id}/members/{member_id}")
def delete_member(
    image_id: str, member_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    service(request).delete_member(ctx, image_id, member_id)
    return no_content()
