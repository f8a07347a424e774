"""Nova paging: ``limit`` and ``marker`` over an ordered list, with a ``next`` link."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request

from kumo.errors import BadRequest

MAX_LIMIT = 1000


def page(
    request: Request, collection: str, items: list[dict[str, Any]], *, key: str = "id"
) -> dict[str, Any]:
    """``{collection: items[after marker][:limit]}`` plus ``{collection}_links``
    when the page is full; an unknown marker is 400, as Nova says."""
    q = request.query_params
    marker = q.get("marker")
    if marker is not None:
        index = next((i for i, it in enumerate(items) if str(it.get(key)) == marker), None)
        if index is None:
            raise BadRequest(f"marker [{marker}] not found")
        items = items[index + 1 :]
    limit = MAX_LIMIT
    if "limit" in q:
        try:
            limit = int(q["limit"])
        except ValueError:
            raise BadRequest("limit param must be an integer") from None
        if limit < 0:
            raise BadRequest("limit param must be positive")
        limit = min(limit, MAX_LIMIT)
    out: dict[str, Any] = {collection: items[:limit]}
    if len(items) > limit and limit > 0:
        params = [(k, v) for k, v in q.multi_items() if k != "marker"]
        params.append(("marker", str(items[limit - 1][key])))
        url = str(request.url).split("?", 1)[0]
        out[f"{collection}_links"] = [{"rel": "next", "href": f"{url}?{urlencode(params)}"}]
    return out
