"""A real ``kumo serve --workers 2``: metrics summed over its workers, and a
SIGTERM with open watch streams ends it within 2 s."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from kumo.identity.authbody import password_auth
from tests.live import KUMO, _free_port

pytestmark = pytest.mark.slow


def _start(state: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    log = open(state / "server.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        [KUMO, "serve", "--state-dir", str(state), "--port", str(port), *extra],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, (state / "server.log").read_text()
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "kumo serve did not come up"
        time.sleep(0.1)


def _token(state: Path, base: str) -> str:
    auth = yaml.safe_load((state / "clouds.yaml").read_text())["clouds"]["kumo"]["auth"]
    r = httpx.post(f"{base}/identity/v3/auth/tokens",
                   json=password_auth("admin", auth["password"], project_name="admin"))  # fmt: skip
    r.raise_for_status()
    return r.headers["X-Subject-Token"]


def _version_gets(body: str) -> float:
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            if (s.name == "kumo_api_request_duration_seconds_count"
                    and s.labels == {"route": "/networking/v2.0", "method": "GET",
                                     "status": "200"}):  # fmt: skip
                return float(s.value)
    return 0.0


def _watchers(body: str) -> float:
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            if s.name == "kumo_watch_subscribers":
                return float(s.value)
    return -1.0


def _open_watches(base: str, token: str, n: int) -> tuple[list[threading.Thread], list[float]]:
    """``n`` watch streams, open (the server counts them) when this returns;
    the times they ended."""
    opened = threading.Barrier(n + 1)
    ended: list[float] = []

    def watch() -> None:
        with httpx.stream("GET", f"{base}/internal/v1/watch?since=0&topics=agents",
                          headers={"X-Auth-Token": token}, timeout=30) as r:  # fmt: skip
            assert r.status_code == 200
            opened.wait(10)
            for _ in r.iter_bytes():
                pass
        ended.append(time.monotonic())

    threads = [threading.Thread(target=watch, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    opened.wait(10)
    deadline = time.monotonic() + 5
    while _watchers(httpx.get(f"{base}/metrics").text) != n:
        assert time.monotonic() < deadline, "the watches are not counted"
        time.sleep(0.05)
    return threads, ended


def _terminate(
    proc: subprocess.Popen[bytes], threads: list[threading.Thread]
) -> tuple[float, float]:
    """SIGTERM; (seconds until the process exited, until the last stream ended)."""
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(10)
    exited = time.monotonic() - sent
    for t in threads:
        t.join(5)
    return exited, sent


def test_sigterm_with_three_open_watches_exits_within_two_seconds(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(state, port)
    try:
        threads, ended = _open_watches(base, _token(state, base), 3)
        exited, sent = _terminate(proc, threads)
        assert exited < 2.0, f"exited {exited:.2f} s after SIGTERM"
        assert len(ended) == 3  # the server ended every stream; none was cut by a timeout
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_workers_share_one_set_of_metrics(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    stale = state / "metrics" / "serve-999999"  # a dead run's files: removed at start
    stale.mkdir(parents=True)
    (stale / "counter_1.db").write_bytes(b"junk")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(state, port, "--workers", "2")
    try:
        assert not stale.exists()
        # 40 requests over fresh connections land on both workers; one scrape counts them all
        for _ in range(40):
            assert httpx.get(f"{base}/networking/v2.0").status_code == 200
        assert _version_gets(httpx.get(f"{base}/metrics").text) == 40
        threads, ended = _open_watches(base, _token(state, base), 3)
        exited, sent = _terminate(proc, threads)
        # the streams end at once; the supervisor then reaps its workers
        assert len(ended) == 3 and max(ended) - sent < 1.0
        assert exited < 5.0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
