"""Servers and keys from the internal API, cached a few seconds."""

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

    def server(self, server_id: str, port_id: str) -> Any:
        self.calls.append(server_id)
        if self.fail:
            raise httpx.ConnectError("down")
        if server_id == "s1":
            return {"server": {"id": "s1", "key_name": "k1"}, "public_key": "ssh-ed25519 AAA"}
        return None


def test_cached_for_a_while_and_errors_are_unavailable() -> None:
    now = [0.0]
    client = FakeClient()
    source = ApiSource(client, ttl=5, negative_ttl=1, clock=lambda: now[0])  # type: ignore[arg-type]
    s1 = source.server("s1", "p1")
    assert s1 == {"id": "s1", "key_name": "k1"}
    assert source.server("s1", "p1") == s1
    assert source.public_key(s1, "p1") == "ssh-ed25519 AAA"
    assert source.server("gone", "p1") is None and source.server("gone", "p1") is None
    assert client.calls == ["s1", "gone"]
    now[0] = 2.0  # the miss expired, the hit did not
    source.server("gone", "p1")
    source.server("s1", "p1")
    assert client.calls[-1] == "gone" and client.calls.count("s1") == 1
    now[0] = 10.0
    client.fail = True
    with pytest.raises(Unavailable):
        source.server("s1", "p1")
