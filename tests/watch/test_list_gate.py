"""Lists in a start storm: one that waited its turn is dropped unread when
its client has gone (agents that gave up must not cost the server a read);
one that would wait too long is refused at once with ``Retry-After``; and
heartbeats are answered at once while every list place is taken."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import text

from kumo.api.app import create_app
from kumo.api.internal.list_queue import ListQueue
from kumo.config import Settings
from kumo.runtime import Runtime
from kumo.watch import snapshot
from tests.live import _free_port


class HeldQueue(ListQueue):
    """The server's list queue, its turns held shut until opened."""

    def __init__(self) -> None:
        super().__init__()
        self.open = threading.Event()

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        await asyncio.to_thread(self.open.wait)
        yield


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[str, str, Any]]:
    settings = Settings(state_dir=tmp_path / "state", database_url=db_url)
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
    headers = {"X-Auth-Token": _token(base, password)}
    gate = app.state.list_queue = HeldQueue()

    with pytest.raises(httpx.ReadTimeout):  # the agent gives up while the list waits
        httpx.get(f"{base}/internal/v1/list", params={"topics": "agents"}, headers=headers,
                  timeout=httpx.Timeout(5.0, read=0.5))  # fmt: skip
    time.sleep(0.3)  # the server sees the connection closed
    gate.open.set()
    time.sleep(0.5)
    assert reads == []

    r = httpx.get(f"{base}/internal/v1/list", params={"topics": "agents"}, headers=headers)
    assert r.status_code == 200 and reads == [frozenset({"agents"})]


def _token(base: str, password: str) -> str:
    auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}  # fmt: skip
    return httpx.post(f"{base}/identity/v3/auth/tokens", json=auth).headers["X-Subject-Token"]


class Stalled:
    """``snapshot.take_for`` stalled mid-list until released, holding its
    database connection as a list does all the while it is read."""

    def __init__(self, app: Any) -> None:
        self.db = app.state.runtime.db
        self.release = threading.Event()
        self.real = snapshot.take_for

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with self.db.read_session() as s:
            s.execute(text("SELECT 1"))
            self.release.wait(60)
        return self.real(*args, **kwargs)


def _lists_at_once(base: str, headers: dict[str, str], n: int) -> tuple[list[int], list[Any]]:
    answers: list[int] = []
    threads = [threading.Thread(target=lambda: answers.append(httpx.get(
        f"{base}/internal/v1/list", params={"topics": "agents"}, headers=headers,
        timeout=120).status_code)) for _ in range(n)]  # fmt: skip
    for t in threads:
        t.start()
    return answers, threads


def _until(cond: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_list_that_would_wait_too_long_is_answered_503_at_once(
    served: tuple[str, str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    base, password, app = served
    headers = {"X-Auth-Token": _token(base, password)}
    stalled = Stalled(app)
    monkeypatch.setattr(snapshot, "take_for", stalled)
    queue = app.state.list_queue = ListQueue(places=1, max_wait=0.5)  # a turn: 1 s so far
    answers, threads = _lists_at_once(base, headers, 1)
    try:
        _until(lambda: queue.running == 1)
        t0 = time.monotonic()
        r = httpx.get(f"{base}/internal/v1/list", params={"topics": "agents"}, headers=headers)
        assert time.monotonic() - t0 < 5
        assert r.status_code == 503
        assert int(r.headers["Retry-After"]) >= 1
        assert r.json()["NeutronError"]["type"] == "ServiceUnavailable"
        assert queue.waiting == 0  # the refused list holds no place in the queue
    finally:
        stalled.release.set()
        for t in threads:
            t.join(60)
    assert answers == [200]


def test_heartbeats_are_answered_while_every_list_place_is_taken(
    served: tuple[str, str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lists in progress hold a database connection each, and the others
    wait in the queue holding none: a heartbeat finds a thread and a
    connection at once (with lists on the request threads, 32 at once held
    every connection of the pool and a heartbeat waited for one)."""
    base, password, app = served
    headers = {"X-Auth-Token": _token(base, password)}
    body = {"agent": {"host": "beating", "configurations": {"tunnel_ip": "192.0.2.9"}}}
    r = httpx.post(f"{base}/internal/v1/agents", json=body, headers=headers)
    assert r.status_code == 201, r.text
    agent = r.json()["agent"]["id"]
    stalled = Stalled(app)
    monkeypatch.setattr(snapshot, "take_for", stalled)
    queue = app.state.list_queue = ListQueue(max_wait=1e9)
    answers, threads = _lists_at_once(base, headers, 60)
    try:
        _until(lambda: queue.running == queue.places and queue.waiting == 60 - queue.places)
        for _ in range(5):
            t0 = time.monotonic()
            r = httpx.post(f"{base}/internal/v1/agents/{agent}/heartbeat", json={},
                           headers=headers, timeout=30)  # fmt: skip
            assert r.status_code == 200, r.text
            assert time.monotonic() - t0 < 5
    finally:
        stalled.release.set()
        for t in threads:
            t.join(120)
    assert answers == [200] * 60
