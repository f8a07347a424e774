"""A list that waited its turn is dropped unread when its client has gone
(in a restart storm, agents that gave up must not cost the server a read)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from kumo.api.app import create_app
from kumo.config import Settings
from kumo.runtime import Runtime
from kumo.watch import snapshot
from tests.live import _free_port


class Gate:
    """Stands in for the server's list gate: held shut until opened."""

    def __init__(self) -> None:
        self.open = threading.Event()

    async def __aenter__(self) -> None:
        await asyncio.to_thread(self.open.wait)

    async def __aexit__(self, *exc: object) -> None:
        return None


@pytest.fixture
def served(sqlite_url: str, tmp_path: Path) -> Iterator[tuple[str, str, Any]]:
    settings = Settings(state_dir=tmp_path / "state", database_url=sqlite_url)
    runtime = Runtime.open(settings)
    password = runtime.identity.bootstrap()
    app = create_app(runtime)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    try:
        yield base, str(password), app
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        runtime.close()


def test_a_list_whose_client_left_while_it_waited_is_not_read(
    served: tuple[str, str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, password, app = served
    reads: list[frozenset[str]] = []
    real = snapshot.take_for

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(args[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(snapshot, "take_for", counted)
    auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}  # fmt: skip
    token = httpx.post(f"{base}/identity/v3/auth/tokens", json=auth).headers["X-Subject-Token"]
    headers = {"X-Auth-Token": token}
    gate = app.state.list_gate = Gate()

    with pytest.raises(httpx.ReadTimeout):  # the agent gives up while the list waits
        httpx.get(f"{base}/internal/v1/list", params={"topics": "agents"}, headers=headers,
                  timeout=httpx.Timeout(5.0, read=0.5))  # fmt: skip
    time.sleep(0.3)  # the server sees the connection closed
    gate.open.set()
    time.sleep(0.5)
    assert reads == []

    r = httpx.get(f"{base}/internal/v1/list", params={"topics": "agents"}, headers=headers)
    assert r.status_code == 200 and reads == [frozenset({"agents"})]
