"""The outbox listener says a database outage once, not once per retry."""

from __future__ import annotations

import logging
import socket
import time

import pytest

from kumo.watch.listen import OutboxListener


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_outage_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    url = f"postgresql+psycopg://kumo@127.0.0.1:{_closed_port()}/gone"
    wakes: list[None] = []
    listener = OutboxListener(url, lambda: wakes.append(None))
    caplog.set_level(logging.DEBUG, logger="kumo.watch.listen")
    listener.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if any("still down" in r.getMessage() for r in caplog.records):
                break
            time.sleep(0.05)
    finally:
        listener.stop()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    retries = [r for r in caplog.records if "still down" in r.getMessage()]
    assert retries, "the listener did not retry"
    assert len(warnings) == 1
    assert "polling until it is back" in warnings[0].getMessage()
    assert not listener.listening.is_set()
    assert not wakes
