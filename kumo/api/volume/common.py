"""What every volume route needs: the service, the caller's version, URLs, bodies."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from kumo.compute.microversion import Version
from kumo.errors import BadRequest
from kumo.volume import microversion
from kumo.volume.service import VolumeService


def service(request: Request) -> VolumeService:
    svc: VolumeService = request.app.state.runtime.volume
    return svc


def version(request: Request) -> Version:
    found = getattr(request.state, "volume_version", None)
    return found if isinstance(found, Version) else microversion.MIN


def base(request: Request) -> str:
    """The block storage root URL (``.../volume``) that links are built from."""
    settings = request.app.state.runtime.settings
    return str(settings.public_url or str(request.base_url)).rstrip("/") + "/volume"


def params(request: Request) -> dict[str, str]:
    return dict(request.query_params.items())


async def read_json(request: Request) -> Any:
    raw = await request.body()
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        raise BadRequest("Malformed request body: the body is not valid JSON.") from None


def listing(
    request: Request, key: str, items: list[dict[str, Any]], more: bool, total: int | None = None
) -> dict[str, Any]:
    """``{key: items}``, a ``next`` link when a page was cut, ``count`` when asked (3.45)."""
    out: dict[str, Any] = {key: items}
    if more and items:
        rest = [(k, v) for k, v in request.query_params.multi_items() if k != "marker"]
        rest.append(("marker", str(items[-1]["id"])))
        href = base(request) + request.url.path.removeprefix("/volume") + "?" + urlencode(rest)
        out[f"{key}_links"] = [{"href": href, "rel": "next"}]
    counted = request.query_params.get("with_count", "").lower() == "true"
    if total is not None and counted and version(request).at_least("3.45"):
        out["count"] = total
    return out
