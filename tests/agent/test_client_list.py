"""The agent's list waits for a slow server instead of giving up at the
watch's read timeout (and listing again elsewhere, adding to the pile);
refused by a saturated server, it asks the other one, or comes back after
the time the server named, spread out."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from kumo.agent.client import BUSY_SPREAD, ApiClient, Busy, busy_delay
from kumo.agent.config import AgentConfig, Credentials


class SlowList(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the handler's interface
        time.sleep(1.0)  # longer than the watch's read timeout below
        body = json.dumps({"revision": 7, "objects": [{"kind": "agent", "id": "a"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def slow_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowList)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_list_outlasts_the_watch_read_timeout(slow_server: str, tmp_path: Path) -> None:
    config = AgentConfig(
        host="h1",
        api_url=slow_server,
        credentials=Credentials(f"{slow_server}/identity/v3", "u", "p", "p"),
        tunnel_ip="192.0.2.1",
        state_dir=tmp_path,
        read_timeout=0.3,
    )
    client = ApiClient(config)
    client.token = lambda: "token"  # type: ignore[method-assign]
    revision, objects, topics = client.list(frozenset({"agents"}))
    assert revision == 7 and objects == [{"kind": "agent", "id": "a"}] and topics is None


class Saturated(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the handler's interface
        body = b'{"NeutronError": {"type": "ServiceUnavailable", "message": "busy", "detail": ""}}'
        self.send_response(503)
        self.send_header("Retry-After", "7")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def test_a_list_refused_by_a_saturated_server_says_when_to_ask_again(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Saturated)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        config = AgentConfig(host="h1", api_url=base,
                             credentials=Credentials(f"{base}/identity/v3", "u", "p", "p"),
                             tunnel_ip="192.0.2.1", state_dir=tmp_path)  # fmt: skip
        client = ApiClient(config)
        client.token = lambda: "token"  # type: ignore[method-assign]
        t0 = time.monotonic()
        with pytest.raises(Busy) as refused:
            client.list(frozenset({"host:h1"}), host="h1")
        assert refused.value.retry_after == 7.0 and time.monotonic() - t0 < 5
        assert isinstance(refused.value, httpx.HTTPError)  # callers that retry errors retry it
    finally:
        server.shutdown()
        server.server_close()


def test_refused_agents_try_the_other_server_then_come_back_spread_out() -> None:
    assert busy_delay(10.0, 1, servers=2) == 0.0  # the other server may have room
    assert busy_delay(10.0, 1, servers=1) >= 10.0  # no other: wait as told
    delays = [busy_delay(10.0, 2, servers=2, rand=random.Random(i).random) for i in range(200)]
    assert all(10.0 <= d < 20.0 for d in delays)
    assert max(delays) - min(delays) > 8.0  # agents refused together come back apart
    assert busy_delay(10.0, 3, 2, rand=lambda: 0.5) == 15.0
    assert busy_delay(2.0, 3, 2, rand=lambda: 0.5) == 3.0  # never more than twice as told
    assert busy_delay(100.0, 3, 2, rand=lambda: 0.999) < 100.0 + BUSY_SPREAD
