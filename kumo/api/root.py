"""Unversioned routes: a landing document and a health check."""

from __future__ import annotations

from fastapi import APIRouter, Request
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
