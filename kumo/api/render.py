"""Fast JSON responses (no per-object validation on the way out)."""

from __future__ import annotations

import json
import operator
import threading
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
    it. Kept per item id and size (an admin's view and a redacted copy of
    it, which has fewer keys, side by side), with the item itself: an answer is used only for
    that very object (a new revision is a new object, and replaces it), so
    the cache holds one entry per object the service holds; and the last
    few whole list bodies, each with the objects it was joined from
    (``body``).
    """

    ITEMS_KEPT = 200_000
    """Item bodies kept; beyond, all are forgotten (deleted objects' too)."""
    LISTS_KEPT = 16
    """Whole list bodies kept (``body``), the oldest forgotten first."""
    LIST_BYTES_KEPT = 32 * 1024 * 1024
    """At most this many bytes of them (a bigger body is not kept)."""

    def __init__(self) -> None:
        self._known: dict[object, tuple[object, bytes]] = {}
        self._lists: dict[tuple[object, ...], tuple[list[dict[str, Any]], bytes]] = {}
        self._list_bytes = 0
        self._lock = threading.Lock()

    def render(self, item: dict[str, Any]) -> bytes:
        key = (item.get("id"), len(item))
        known = self._known.get(key)
        if known is not None and known[0] is item:
            return known[1]
        body = json.dumps(item, separators=(",", ":"), default=str).encode()
        if key[0] is not None:
            if len(self._known) > self.ITEMS_KEPT:
                self._known.clear()
            self._known[key] = (item, body)
        return body

    def render_all(self, items: list[dict[str, Any]]) -> list[bytes]:
        """``[self.render(item) for item in items]``, without a call per known item."""
        known = self._known
        out = []
        for item in items:
            hit = known.get((item.get("id"), len(item)))
            out.append(hit[1] if hit is not None and hit[0] is item else self.render(item))
        return out

    def body(
        self, collection: str, items: list[dict[str, Any]], links: list[dict[str, Any]] | None
    ) -> bytes:
        """``{collection: items, collection_links: links}`` as JSON bytes.

        The last bodies are kept with the very item objects they were
        joined from: a list of the same objects in the same order (nothing
        in it changed since, as items are replaced, never changed) with the
        same links is answered with the kept bytes, without joining ~500 KB
        again: at 500 ports (~520 KB) the joins and the new body's memory
        cost ~0.45 ms a list, in one stretch under the interpreter lock.
        """
        linked = json.dumps(links, separators=(",", ":"), default=str).encode() if links else b""
        key = (collection, len(items), items[0].get("id") if items else None, linked)
        kept = self._lists.get(key)
        if kept is not None and all(map(operator.is_, kept[0], items)):
            return kept[1]
        parts = [b'{"', json.dumps(collection).encode()[1:-1], b'":[']
        parts.append(b",".join(self.render_all(items)))
        parts.append(b"]")
        if linked:
            parts += [b',"', f"{collection}_links".encode(), b'":', linked]
        parts.append(b"}")
        body = b"".join(parts)
        self._keep(key, list(items), body)
        return body

    def _keep(self, key: tuple[object, ...], items: list[dict[str, Any]], body: bytes) -> None:
        if len(body) > self.LIST_BYTES_KEPT:
            return
        with self._lock:
            old = self._lists.pop(key, None)
            if old is not None:
                self._list_bytes -= len(old[1])
            while self._lists and (
                len(self._lists) >= self.LISTS_KEPT
                or self._list_bytes + len(body) > self.LIST_BYTES_KEPT
            ):
                self._list_bytes -= len(self._lists.pop(next(iter(self._lists)))[1])
            self._lists[key] = (items, body)
            self._list_bytes += len(body)


def json_list_response(
    collection: str,
    items: list[dict[str, Any]],
    links: list[dict[str, Any]] | None,
    cache: ItemJson,
) -> Response:
    """``json_response({collection: items, collection_links: links})``, the
    same bytes, with each item's JSON (and recent whole bodies) from ``cache``."""
    return Response(cache.body(collection, items, links), media_type="application/json")


def no_content() -> Response:
    return Response(status_code=204)
