"""An agent whose list a saturated server refuses (``503`` with
``Retry-After``) lists on the other server at once, or, with no other,
asks again after the time named, rather than waiting past its timeout or
coming back at its error backoff's pace."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from kumo.agent.loop import Agent
from tests.agent.test_agent_loop import RecordingApplier, _agent
from tests.live import LiveServer

HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding"}


class Front(BaseHTTPRequestHandler):
    """A server that refuses its first ``refusals`` lists (``Retry-After:
    retry_after``) and passes everything else on to ``upstream``."""

    upstream = ""
    refusals = 0
    retry_after = 60
    lists: list[float] = []
    """When each list came."""

    def do_GET(self) -> None:  # noqa: N802 - the handler's interface
        if self.path.startswith("/internal/v1/list"):
            self.lists.append(time.monotonic())
            if len(self.lists) <= self.refusals:
                body = b'{"NeutronError": {"type": "ServiceUnavailable", "message": "busy"}}'
                self.send_response(503)
                self.send_header("Retry-After", str(self.retry_after))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
        self._pass()

    def do_POST(self) -> None:  # noqa: N802
        self._pass()

    def _pass(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP | {"host"}}
        r = httpx.request(self.command, self.upstream + self.path, headers=headers,
                          content=self.rfile.read(length), timeout=60)  # fmt: skip
        self.send_response(r.status_code)
        for key, value in r.headers.items():
            if key.lower() not in HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(r.content)))
        self.end_headers()
        self.wfile.write(r.content)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@contextmanager
def _front(upstream: str, refusals: int, retry_after: int) -> Iterator[tuple[str, type[Front]]]:
    handler = type("Refusing", (Front,), {"upstream": upstream, "refusals": refusals,
                                          "retry_after": retry_after, "lists": []})  # fmt: skip
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def _synced(agent: Agent, within: float) -> None:
    t0 = time.monotonic()
    while not agent.synced.is_set():
        assert time.monotonic() - t0 < within, "not in sync"
        time.sleep(0.05)


def test_a_refused_list_goes_to_the_other_server_at_once(live_server: LiveServer) -> None:
    with _front(live_server.base, refusals=1, retry_after=60) as (front, handler):
        agent = _agent(live_server, "hostBusy", RecordingApplier())
        agent.config = replace(agent.config, api_url=f"{front},{live_server.base}")
        agent.client = type(agent.client)(agent.config)
        agent.start()
        try:
            _synced(agent, within=30)  # well before the 60 s the refusal named
            assert len(handler.lists) == 1 and agent.stats["busy"] == 1
            assert agent.client.base == live_server.base
        finally:
            agent.stop()


def test_with_no_other_server_the_agent_waits_as_told(live_server: LiveServer) -> None:
    """Refused twice by its only server, the agent asks again after the
    ``Retry-After`` each time (up to twice as long, at random), not at its
    error backoff's 0.2 then 0.4 s."""
    with _front(live_server.base, refusals=2, retry_after=1) as (front, handler):
        agent = _agent(live_server, "hostAlone", RecordingApplier())
        agent.config = replace(agent.config, api_url=front)
        agent.client = type(agent.client)(agent.config)
        agent.start()
        try:
            _synced(agent, within=30)
            assert agent.stats["busy"] == 2 and len(handler.lists) == 3
            gaps = [b - a for a, b in zip(handler.lists, handler.lists[1:], strict=False)]
            assert all(1.0 <= gap < 3.0 for gap in gaps), gaps
        finally:
            agent.stop()
