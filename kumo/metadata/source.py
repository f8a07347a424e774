"""Servers and key pairs for the metadata server, from the compute API with
the agent's credentials (an admin: ``OS-EXT-SRV-ATTR:user_data`` and other
projects' servers are admin-only), cached for a few seconds per object so
cloud-init's burst of requests costs one API call."""

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

    def server(self, server_id: str) -> Mapping[str, Any] | None:
        def fetch() -> Mapping[str, Any] | None:
            body = self.client.compute_get(f"/servers/{server_id}")
            return None if body is None else body.get("server")

        result: Mapping[str, Any] | None = self._cached(("server", server_id), fetch)
        return result

    def public_key(self, name: str, user_id: str) -> str | None:
        def fetch() -> str | None:
            params = {"user_id": user_id} if user_id else None
            body = self.client.compute_get(f"/os-keypairs/{name}", params)
            return None if body is None else str(body["keypair"]["public_key"])

        result: str | None = self._cached(("keypair", f"{user_id}/{name}"), fetch)
        return result
