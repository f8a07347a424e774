"""Networking version documents: ``/networking`` and ``/networking/v2.0``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from kumo.api.render import json_response

router = APIRouter()
RESOURCES = (
    ("network", "networks"),
    ("subnet", "subnets"),
    ("port", "ports"),
    ("router", "routers"),
    ("floatingip", "floatingips"),
)


def _base(request: Request) -> str:
    runtime = request.app.state.runtime
    return str(runtime.settings.public_url or str(request.base_url)).rstrip("/") + "/networking"


def versions(request: Request) -> Response:
    return json_response(
        {
            "versions": [
                {
                    "id": "v2.0",
                    "status": "CURRENT",
                    "links": [{"href": _base(request) + "/v2.0/", "rel": "self"}],
                }
            ]
        }
    )


@router.get("/v2.0")
@router.get("/v2.0/")
def v2(request: Request) -> Response:
    base = _base(request) + "/v2.0"
    return json_response(
        {
            "resources": [
                {
                    "name": name,
                    "collection": coll,
                    "links": [{"href": f"{base}/{coll}", "rel": "self"}],
                }
                for name, coll in RESOURCES
            ]
        }
    )
