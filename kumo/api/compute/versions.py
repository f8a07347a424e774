"""Compute version documents: ``/compute`` (all versions), ``/compute/v2`` and ``/compute/v2.1``.

As Nova does, the root lists the legacy v2.0 API (SUPPORTED, no
microversions) before v2.1 (CURRENT); each version's ``self`` link answers
that version's own document. kumo serves the API itself only at /v2.1.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from kumo.api.compute.common import base
from kumo.api.render import json_response
from kumo.compute import microversion

router = APIRouter()
UPDATED = "2013-07-23T11:33:21Z"
UPDATED_V20 = "2011-01-21T11:33:21Z"


def _media_types(minor: str) -> list[dict[str, str]]:
    return [
        {
            "base": "application/json",
            "type": f"application/vnd.openstack.compute+json;version={minor}",
        }
    ]


def _v20(request: Request) -> dict[str, Any]:
    return {
        "id": "v2.0",
        "status": "SUPPORTED",
        "version": "",
        "min_version": "",
        "updated": UPDATED_V20,
        "links": [{"rel": "self", "href": base(request) + "/v2/"}],
        "media-types": _media_types("2"),
    }


def _v21(request: Request) -> dict[str, Any]:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": str(microversion.MAX),
        "min_version": str(microversion.MIN),
        "updated": UPDATED,
        "links": [{"rel": "self", "href": base(request) + "/v2.1/"}],
        "media-types": _media_types("2.1"),
    }


def versions(request: Request) -> Response:
    return json_response({"versions": [_v20(request), _v21(request)]})


@router.get("/v2")
@router.get("/v2/")
def legacy(request: Request) -> Response:
    return json_response({"version": _v20(request)})


@router.get("/v2.1")
@router.get("/v2.1/")
def current(request: Request) -> Response:
    return json_response({"version": _v21(request)})
