"""Unversioned routes: a landing document, health, readiness and metrics.

``/healthz`` says the process answers; ``/readyz`` says it can serve: the
database answers and holds the schema this code expects (its Alembic
revision is the head of the shipped migrations), 503 otherwise;
``/metrics`` is the Prometheus exposition of this server (all its
workers). All three are public, like the version documents: they carry
no tenant's data (see docs/SECURITY.md).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from kumo import __version__
from kumo.api.render import json_response

router = APIRouter()


@router.get("/")
def landing(request: Request) -> Response:
    base = str(request.base_url).rstrip("/")
    return json_response(
        {
            "name": "kumo",
            "version": __version__,
            "apis": {
                "identity": f"{base}/identity/v3",
                "networking": f"{base}/networking/v2.0",
                "compute": f"{base}/compute/v2.1",
                "image": f"{base}/image/v2",
                "volume": f"{base}/volume/v3",
            },
        }
    )


@router.get("/healthz")
def healthz() -> Response:
    return json_response({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    from kumo.db.migrate import readiness

    checks = await run_in_threadpool(readiness, request.app.state.runtime.db)
    ready = all(c["ok"] for c in checks.values())
    return json_response(
        {"status": "ready" if ready else "not ready", "version": __version__, "checks": checks},
        status=200 if ready else 503,
    )


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    if not request.app.state.runtime.settings.metrics:
        return json_response({"error": "metrics are off on this server (KUMO_METRICS=0)"}, 404)
    from kumo.telemetry.exposition import render

    body, content_type = await run_in_threadpool(render)
    return Response(body, media_type=content_type)
