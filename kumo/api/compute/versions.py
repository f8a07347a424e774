"""Compute version documents: ``/compute`` (all versions) and ``/compute/v2.1``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from kumo.api.compute.common import base
from kumo.api.render import json_response
from kumo.compute import microversion

router = APIRouter()
UPDATED = "2013-07-23T11:33:21Z"


def _v21(request: Request) -> dict[str, Any]:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": str(microversion.MAX),
        "min_version": str(microversion.MIN),
        "updated": UPDATED,
        "links": [{"rel": "self", "href": base(request) + "/v2.1/"}],
        "media-types": [
            {
                "base": "application/json",
                "type": "application/vnd.openstack.compute+json;version=2.1",
            }
        ],
    }


def versions(request: Request) -> Response:
    return json_response({"versions": [_v21(request)]})


@router.get("/v2.1")
@router.get("/v2.1/")
def current(request: Request) -> Response:
    return json_response({"version": _v21(request)})
