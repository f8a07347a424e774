"""The agent's console endpoint alone: a namespace instance's guest logs
for a credential naming its namespace; a console needs the upgrade and a
running VM; unknown paths are 404 (each request with a fresh credential)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kumo.agent import console_credential as cc
from kumo.agent.console_server import ConsoleServer
from kumo.dataplane.guest import processes

KEY = cc.host_key(b"k" * 32, "h1")
http = httpx.Client()


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[ConsoleServer]:
    server = ConsoleServer("h1", lambda: KEY, tmp_path / "vms")
    server.start()
    yield server
    server.stop()


def auth(server: str, operation: str, **kw: object) -> dict[str, str]:
    cred = cc.mint(KEY, "h1", server, operation, **kw)  # type: ignore[arg-type]
    return {"Authorization": f"{cc.SCHEME} {cred}"}


def test_a_namespace_instances_log_is_its_guest_processes_logs(
    endpoint: ConsoleServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(processes, "RUN_DIR", tmp_path)
    (tmp_path / "ki-p1.udhcpc.log").write_text("lease 10.0.0.5\n")
    (tmp_path / "ki-p1.httpd.log").write_text("httpd started\n")
    os.utime(tmp_path / "ki-p1.udhcpc.log", (1, 1))  # the older one first
    (tmp_path / "ki-p2.httpd.log").write_text("another instance\n")
    url = f"{endpoint.url}/v1/servers/s1/console-log"
    r = http.get(url, headers=auth("s1", "log", netns="ki-p1"))
    assert r.status_code == 200 and r.text == "lease 10.0.0.5\nhttpd started\n"
    # a namespace name that could escape the glob opens nothing
    assert http.get(url, headers=auth("s1", "log", netns="../x*")).text == ""


def test_a_console_needs_the_upgrade_and_a_running_vm(endpoint: ConsoleServer) -> None:
    url = f"{endpoint.url}/v1/servers/s1/console"
    assert http.get(url, headers=auth("s1", "console", vm=True)).status_code == 426
    upgrade = {"Connection": "Upgrade", "Upgrade": "kumo-console"}
    r = http.get(url, headers={**upgrade, **auth("s1", "console", vm=True)})
    assert r.status_code == 409 and "not available" in r.text
    r = http.get(f"{endpoint.url}/v1/other", headers=auth("s1", "console"))
    assert r.status_code == 404
