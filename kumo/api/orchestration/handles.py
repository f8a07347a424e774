"""``/wait_handles/{id}/signal``: an instance signals a wait condition handle.

The credential is the handle's own token (``X-Auth-Token`` header or
``?token=``), not a Keystone token: it opens this one URL and nothing else.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from kumo.api.orchestration.common import service

router = APIRouter()


@router.post("/wait_handles/{handle_id}/signal")
async def signal_handle(
    project_id: str, handle_id: str, request: Request, body: Any = Body(None)
) -> Response:
    token = request.headers.get("x-auth-token") or request.query_params.get("token") or ""
    svc = service(request)
    await run_in_threadpool(svc.signal_handle, project_id, handle_id, token, body)
    return Response(status_code=200)
