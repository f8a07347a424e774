"""Servers for the metadata server, from the internal API with the agent's
own credential (which reads only its host's servers: user data and keys
included), cached for a few seconds per server so cloud-init's burst of
requests costs one API call."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from kumo.agent.client import ApiClient
from kumo.metadata.server import Unavailable


class ApiSource:
    def __init__(
        self,
        client: ApiClient,
        ttl: float = 5.0,
        negative_ttl: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.clock = clock
        self._cache: dict[tuple[str, str], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def _cached(self, key: tuple[str, str], fetch: Callable[[], Any]) -> Any:
        now = self.clock()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        try:
            value = fetch()
        except httpx.HTTPError as exc:
            raise Unavailable(str(exc)) from exc
        with self._lock:
            self._cache[key] = (now + (self.ttl if value is not None else self.negative_ttl), value)
            for stale in [k for k, (t, _) in self._cache.items() if t <= now]:
                del self._cache[stale]
        return value

    def _document(self, server_id: str, port_id: str) -> Mapping[str, Any] | None:
        result: Mapping[str, Any] | None = self._cached(
            (server_id, port_id), lambda: self.client.server(server_id, port_id)
        )
        return result

    def server(self, server_id: str, port_id: str) -> Mapping[str, Any] | None:
        doc = self._document(server_id, port_id)
        return None if doc is None else doc.get("server")

    def public_key(self, server: Mapping[str, Any], port_id: str) -> str | None:
        doc = self._document(str(server["id"]), port_id)
        key = None if doc is None else doc.get("public_key")
        return str(key) if key else None
