"""``/v2/images/{id}/file``: upload and download image data, streamed both ways.

An upload is read from the connection in pieces and handed to the service
layer a buffer at a time (at most ``BUFFER`` bytes held), so an image of
any size passes through a bounded amount of memory; a download streams the
stored file the same way, with ``Content-MD5`` set to the image's checksum.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.responses import Response, StreamingResponse

from kumo.api.auth import authenticate
from kumo.api.image.images import service
from kumo.api.render import no_content
from kumo.context import RequestContext
from kumo.errors import BadRequest
from kumo.image.data import Download, Upload

router = APIRouter()
BUFFER = 1 << 20
"""Bytes of an upload gathered before they are written (and hashed) off the event loop."""
CHUNK = 1 << 20
"""Bytes of a download read from the store at a time."""


def declared(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise BadRequest("Invalid Content-Length") from None


@router.put("/v2/images/{image_id}/file")
async def upload(
    image_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    up = await run_in_threadpool(service(request).start_upload, ctx, image_id, declared(request))
    await receive(request, up)
    return no_content()


async def receive(request: Request, up: Upload) -> None:
    """The request's body into ``up``, a buffer at a time; the image is
    killed (no data kept) unless the whole body arrived and was stored."""
    try:
        pending = bytearray()
        async for piece in request.stream():
            pending += piece
            if len(pending) >= BUFFER:
                await run_in_threadpool(up.write, bytes(pending))
                pending.clear()
        if pending:
            await run_in_threadpool(up.write, bytes(pending))
        await run_in_threadpool(up.complete)
    except ClientDisconnect:
        raise BadRequest(
            "The client went away before the image data was complete; the image is killed."
        ) from None
    finally:
        if not up.closed:
            await run_in_threadpool(up.abort)


def _chunks(file: BinaryIO) -> Iterator[bytes]:
    try:
        while piece := file.read(CHUNK):
            yield piece
    finally:
        file.close()


@router.get("/v2/images/{image_id}/file")
async def download(
    image_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    found = await run_in_threadpool(service(request).open_download, ctx, image_id)
    return stream(found)


def stream(found: Download | None) -> Response:
    """An image's data as a response (204 when it has none)."""
    if found is None:
        return no_content()
    headers = {"Content-Length": str(found.size)}
    if found.checksum:
        headers["Content-MD5"] = found.checksum
    if found.file is None:
        return Response(b"", media_type="application/octet-stream", headers=headers)
    return StreamingResponse(
        _chunks(found.file), media_type="application/octet-stream", headers=headers
    )
