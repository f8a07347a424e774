"""Servers and keys from the compute API, cached a few seconds."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from kumo.metadata.server import Unavailable
from kumo.metadata.source import ApiSource


class FakeClient:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.fail = False

    def compute_get(self, path: str, params: dict[str, str] | None = None) -> Any:
        self.calls.append(path)
        if self.fail:
            raise httpx.ConnectError("down")
        if path == "/servers/s1":
            return {"server": {"id": "s1"}}
        if path == "/os-keypairs/k1" and params == {"user_id": "alice"}:
            return {"keypair": {"public_key": "ssh-ed25519 AAA"}}
        return None


def test_cached_for_a_while_and_errors_are_unavailable() -> None:
    now = [0.0]
    client = FakeClient()
    source = ApiSource(client, ttl=5, negative_ttl=1, clock=lambda: now[0])  # type: ignore[arg-type]
    assert source.server("s1") == {"id": "s1"}
    assert source.server("s1") == {"id": "s1"}
    assert source.server("gone") is None and source.server("gone") is None
    assert client.calls == ["/servers/s1", "/servers/gone"]
    assert source.public_key("k1", "alice") == "ssh-ed25519 AAA"
    now[0] = 2.0  # the miss expired, the hit did not
    source.server("gone")
    source.server("s1")
    assert client.calls[-1] == "/servers/gone" and client.calls.count("/servers/s1") == 1
    now[0] = 10.0
    client.fail = True
    with pytest.raises(Unavailable):
        source.server("s1")
