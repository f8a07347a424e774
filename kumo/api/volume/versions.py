"""Block storage version documents: ``/volume`` (300, every version) and
``/volume/v3`` (the v3 document with its microversion range)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from kumo.api.render import json_response
from kumo.volume import microversion

router = APIRouter()


def _v3(request: Request) -> dict[str, Any]:
    settings = request.app.state.runtime.settings
    root = str(settings.public_url or str(request.base_url)).rstrip("/") + "/volume"
    return {
        "id": "v3.0",
        "status": "CURRENT",
        "version": str(microversion.MAX),
        "min_version": str(microversion.MIN),
        "updated": "2023-08-31T00:00:00Z",
        "links": [
            {"rel": "describedby", "type": "text/html",
             "href": "https://docs.openstack.org/api-ref/block-storage/"},
            {"rel": "self", "href": f"{root}/v3/"},
        ],
        "media-types": [
            {"base": "application/json",
             "type": "application/vnd.openstack.volume+json;version=3"},
        ],
    }  # fmt: skip


def versions(request: Request) -> Response:
    return json_response({"versions": [_v3(request)]}, status=300)


def v3(request: Request) -> Response:
    return json_response({"versions": [_v3(request)]})
