"""Identity version documents."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from kumo.api.identity.views import base_url
from kumo.api.render import json_response

MEDIA = [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]


def _version(request: Request) -> dict[str, object]:
    return {
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": base_url(request) + "/identity/v3/"}],
        "media-types": MEDIA,
    }


def versions(request: Request) -> Response:
    return json_response({"versions": {"values": [_version(request)]}}, status=300)


def v3(request: Request) -> Response:
    return json_response({"version": _version(request)})
