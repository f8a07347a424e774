"""Image version documents: ``/image`` (300 Multiple Choices, as Glance) and ``/image/versions``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from kumo.api.render import json_response

router = APIRouter()
SUPPORTED = ("2.0", "2.1", "2.2", "2.3", "2.4", "2.5", "2.6")


def _body(request: Request) -> dict[str, object]:
    settings = request.app.state.runtime.settings
    root = str(settings.public_url or str(request.base_url)).rstrip("/") + "/image"
    return {
        "versions": [
            {
                "id": f"v{v}",
                "status": "CURRENT" if v == SUPPORTED[-1] else "SUPPORTED",
                "links": [{"rel": "self", "href": f"{root}/v2/"}],
            }
            for v in reversed(SUPPORTED)
        ]
    }


def versions(request: Request) -> Response:
    return json_response(_body(request), status=300)


@router.get("/versions")
def versions_ok(request: Request) -> Response:
    return json_response(_body(request))
