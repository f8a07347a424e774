"""The agent's worker when the kernel keeps failing: capped retries, one
report a minute for the same failure, and a complete pass once it is fixed."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from kumo.agent.config import AgentConfig, Credentials
from kumo.agent.loop import Agent
from kumo.agent.repeats import RepeatLimiter
from kumo.dataplane.driver import Dataplane, DataplaneSettings
from kumo.dataplane.fake import FakeKernel
from kumo.dataplane.guest.processes import FakeGuests


def test_repeat_limiter_lets_one_identical_report_through_a_minute() -> None:
    now = [0.0]
    limiter = RepeatLimiter(interval=60.0, clock=lambda: now[0])
    assert limiter.check("host namespace gone") == 0
    for _ in range(1_000):
        now[0] += 0.05
        assert limiter.check("host namespace gone") is None
    assert limiter.check("another error") == 0  # news goes through at once
    now[0] += 11.0
    assert limiter.check("host namespace gone") == 1_000
    assert limiter.check("host namespace gone") is None
    limiter.reset()
    assert limiter.check("host namespace gone") == 0


def test_repeat_limiter_forgets_old_messages_past_its_bound() -> None:
    now = [0.0]
    limiter = RepeatLimiter(interval=1.0, clock=lambda: now[0], max_messages=10)
    for i in range(100):
        now[0] += 0.5
        limiter.check(f"error {i}")
    assert len(limiter._seen) <= 11


def _agent(tmp_path: Path, dataplane: Dataplane) -> Agent:
    config = AgentConfig(
        host="host-a",
        api_url="http://127.0.0.1:9",  # never called: no ports, no HA routers
        credentials=Credentials("http://127.0.0.1:9/identity/v3", "agent", "secret"),
        state_dir=tmp_path,
    )
    agent = Agent(config, dataplane)
    agent.cache_ready.set()
    return agent


def test_missing_host_namespace_is_reported_once_then_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeKernel()
    settings = DataplaneSettings(retry_initial_delay=0.001, retry_max_delay=0.005)
    dataplane = Dataplane(fake, "host-a", settings, guests=FakeGuests())
    agent = _agent(tmp_path, dataplane)
    fake.remove_host()
    caplog.set_level(logging.INFO, logger="kumo.agent")
    worker = threading.Thread(target=agent._work_loop, daemon=True)
    agent.dirty.set()
    worker.start()
    try:
        deadline = time.monotonic() + 30  # a busy machine
        while dataplane.failures < 50:
            assert time.monotonic() < deadline, dataplane.failures
            time.sleep(0.01)
        reports = [r for r in caplog.records if "dataplane pass incomplete" in r.getMessage()]
        assert len(reports) == 1, [r.getMessage() for r in reports]
        assert "host namespace" in reports[0].getMessage() or "netns" in reports[0].getMessage()
        tracebacks = [r.getMessage() for r in caplog.records if r.exc_info]
        assert tracebacks == []
        fake.restore_host()
        deadline = time.monotonic() + 30
        while not agent.synced.is_set():
            assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records][-5:]
            time.sleep(0.01)
        assert dataplane.failures == 0
        # Logged once the pass has returned (in sync is set within it).
        while not any("in order again" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records][-5:]
            time.sleep(0.01)
    finally:
        agent.stop_event.set()
        agent.dirty.set()
        worker.join(5)
        agent.client.close()
        agent.gc.uninstall()
