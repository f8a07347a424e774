"""The agent's list waits for a slow server instead of giving up at the
watch's read timeout (and listing again elsewhere, adding to the pile)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kumo.agent.client import ApiClient
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
