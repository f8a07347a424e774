"""An agent's API client loads the certificate authorities once per
process, not once per client (each load is ~17 ms of CPU, and a process
holding many agents makes a client per agent at every restart)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from kumo.agent import tls
from kumo.agent.client import ApiClient
from kumo.agent.config import AgentConfig, Credentials


def _config(tmp_path: Path, host: str) -> AgentConfig:
    return AgentConfig(
        host=host,
        api_url="http://127.0.0.1:9",
        credentials=Credentials("http://127.0.0.1:9/identity/v3", "a", "b", "c"),
        state_dir=tmp_path,
    )


def test_clients_share_one_context_loaded_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tls, "_context", None)
    loads = []
    real = ssl.SSLContext.load_verify_locations

    def counting(self: ssl.SSLContext, *args: object, **kwargs: object) -> None:
        loads.append(1)
        real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    clients = [ApiClient(_config(tmp_path, f"h{i}")) for i in range(3)]
    try:
        assert len(loads) == 1
        pools = [c._http._transport._pool for c in clients]  # type: ignore[attr-defined]
        assert all(p._ssl_context is tls.context() for p in pools)
    finally:
        for c in clients:
            c.close()
