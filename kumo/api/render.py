"""Fast JSON responses (no per-object validation on the way out)."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, separators=(",", ":"), default=str).encode()
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def no_content() -> Response:
    return Response(status_code=204)
