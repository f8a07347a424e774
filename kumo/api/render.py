"""Fast JSON responses (no per-object validation on the way out)."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(data, separators=(",", ":"), default=str).encode()
    return Response(body, status_code=status, media_type="application/json", headers=headers)


class ItemJson:
    """The JSON of list items that a service keeps between requests (its
    cached views, replaced, never changed, when their object changes), so a
    list renders only the items that changed since the last one.

    Rendering 500 ports with ``json.dumps`` costs ~8 ms and holds the
    interpreter lock throughout: concurrent lists in one process queued on
    it. Kept per item id, with the item itself: an answer is used only for
    that very object (a new revision is a new object, and replaces it), so
    the cache holds one entry per object the service holds.
    """

    def __init__(self) -> None:
        self._known: dict[object, tuple[object, bytes]] = {}

    def render(self, item: dict[str, Any]) -> bytes:
        key = item.get("id")
        known = self._known.get(key)
        if known is not None and known[0] is item:
            return known[1]
        body = json.dumps(item, separators=(",", ":"), default=str).encode()
        if key is not None:
            self._known[key] = (item, body)
        return body

    def render_all(self, items: list[dict[str, Any]]) -> list[bytes]:
        """``[self.render(item) for item in items]``, without a call per known item."""
        known = self._known
        out = []
        for item in items:
            hit = known.get(item.get("id"))
            out.append(hit[1] if hit is not None and hit[0] is item else self.render(item))
        return out


def json_list_response(
    collection: str,
    items: list[dict[str, Any]],
    links: list[dict[str, Any]] | None,
    cache: ItemJson,
) -> Response:
    """``json_response({collection: items, collection_links: links})``, the
    same bytes, with each item's JSON from ``cache``."""
    parts = [b'{"', json.dumps(collection).encode()[1:-1], b'":[']
    parts.append(b",".join(cache.render_all(items)))
    parts.append(b"]")
    if links:
        parts += [b',"', f"{collection}_links".encode(), b'":']
        parts.append(json.dumps(links, separators=(",", ":"), default=str).encode())
    parts.append(b"}")
    return Response(b"".join(parts), media_type="application/json")


def no_content() -> Response:
    return Response(status_code=204)
