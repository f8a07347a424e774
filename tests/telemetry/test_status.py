"""``kumo status`` against a live API server, with admin credentials from clouds.yaml."""

from __future__ import annotations

import subprocess

import httpx
import pytest

from tests.live import KUMO, LiveServer

pytestmark = pytest.mark.slow


def test_status_reports_the_database_agents_and_unready_ones(live_server: LiveServer) -> None:
    done = subprocess.run([KUMO, "status"], env=live_server.env(), capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ready" in done.stdout and "reachable" in done.stdout
    headers = {"X-Auth-Token": live_server.token()}
    body = {"agent": {"host": "st1", "configurations": {"ready": False}}}
    r = httpx.post(f"{live_server.base}/internal/v1/agents", json=body, headers=headers)
    assert r.status_code == 201, r.text
    done = subprocess.run([KUMO, "status"], env=live_server.env(), capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 1
    assert "st1" in done.stdout and "agent of st1 is not ready" in done.stdout
