"""End to end: ``openstack stack ...`` (python-heatclient) against a real ``kumo serve``.

A fake host agent (registration and heartbeats over the internal API) stands
for a compute host and reports each new server's ports ACTIVE, as a real
agent does once it has wired them, so servers go ACTIVE. The database
server's wait condition is signalled by running the handle's own
``curl_cli``, as the server's user data would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.live import LiveServer

pytestmark = pytest.mark.slow
OPENSTACK = str(Path(sys.executable).parent / "openstack")
TWO_TIER = str(Path(__file__).resolve().parents[2] / "examples" / "two-tier.yaml")


def _cli(server: LiveServer, *args: str) -> Any:
    out = subprocess.run([OPENSTACK, *args, "-f", "json"], env=server.env(),
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr + out.stdout
    text = out.stdout
    if "--wait" in args:  # the events come first, then the document
        text = text[text.index("\n{") :] if not text.startswith("{") else text
    return json.loads(text) if text.strip() else None


def _run(server: LiveServer, *args: str) -> str:
    out = subprocess.run([OPENSTACK, *args], env=server.env(), capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    assert out.returncode == 0, out.stderr + out.stdout
    return out.stdout


@pytest.fixture
def host(live_server: LiveServer) -> Iterator[None]:
    """Compute host ``cmp1``: alive, and wiring every server's ports."""
    headers = {"X-Auth-Token": live_server.token()}
    base = live_server.base
    body = {"agent": {"host": "cmp1", "configurations": {"vcpus": 16, "memory_mb": 16384}}}
    r = httpx.post(f"{base}/internal/v1/agents", json=body, headers=headers)
    assert r.status_code == 201, r.text
    agent_id = r.json()["agent"]["id"]
    stop = threading.Event()

    def work() -> None:
        while not stop.wait(0.5):
            httpx.post(f"{base}/internal/v1/agents/{agent_id}/heartbeat", json={},
                       headers=headers)  # fmt: skip
            servers = httpx.get(f"{base}/compute/v2.1/servers/detail?all_tenants=1",
                                headers=headers).json()["servers"]  # fmt: skip
            for s in servers:
                if s["status"] != "BUILD":
                    continue
                ports = httpx.get(f"{base}/networking/v2.0/ports?device_id={s['id']}",
                                  headers=headers).json()["ports"]  # fmt: skip
                httpx.post(f"{base}/internal/v1/ports/status",
                           json={"active": [p["id"] for p in ports]}, headers=headers)  # fmt: skip

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()


def _signal_db_when_ready(server: LiveServer, stack: str) -> threading.Thread:
    """What the db server's user data does: run the handle's curl_cli."""

    def work() -> None:
        for _ in range(600):
            try:
                shown = _cli(server, "stack", "resource", "show", stack, "db_ready_handle")
            except AssertionError:
                threading.Event().wait(0.2)
                continue
            attrs = shown["attributes"]
            if shown["resource_status"] != "CREATE_COMPLETE":
                # not made yet (INIT_COMPLETE, as Heat shows it): no URL to call
                threading.Event().wait(0.2)
                continue
            if shutil.which("curl"):
                cmd = (
                    attrs["curl_cli"] + ' --data-binary \'{"status": "SUCCESS", "data": "db up"}\''
                )
                subprocess.run(["sh", "-c", cmd], capture_output=True, timeout=30, check=True)
            else:
                httpx.post(attrs["endpoint"], json={"status": "SUCCESS", "data": "db up"},
                           headers={"X-Auth-Token": attrs["token"]})  # fmt: skip
            return

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


def test_two_tier_stack_with_the_openstack_cli(live_server: LiveServer, host: None) -> None:
    if not live_server.database_url.startswith("sqlite"):
        # the client polls every 5 s: one engine is enough for the CLI round trip
        # (tests/orchestration runs the engine itself on both)
        pytest.skip("the CLI round trip runs on SQLite only")
    _run(live_server, "network", "create", "--external", "public")
    _run(live_server, "subnet", "create", "--network", "public", "--subnet-range",
         "203.0.113.0/24", "public-sub")  # fmt: skip
    validated = _cli(live_server, "orchestration", "template", "validate", "-t", TWO_TIER)
    assert validated["Parameters"]["web_count"]["Default"] == 2

    signaller = _signal_db_when_ready(live_server, "two")
    made = _cli(live_server, "stack", "create", "-t", TWO_TIER, "--wait", "--poll", "1",
                "--tags", "demo,e2e", "two")  # fmt: skip
    signaller.join(30)
    assert made["stack_status"] == "CREATE_COMPLETE", made
    listed = _cli(live_server, "stack", "list")
    assert [(s["Stack Name"], s["Stack Status"]) for s in listed] == [("two", "CREATE_COMPLETE")]

    web = _cli(live_server, "stack", "output", "show", "two", "web_addresses")
    assert len(web["output_value"]) == 2 and all(a.startswith("10.20.0.") for a in
                                                  web["output_value"])  # fmt: skip
    ready = _cli(live_server, "stack", "output", "show", "two", "db_ready")
    assert json.loads(ready["output_value"]) == {"1": "db up"}
    public = _cli(live_server, "stack", "output", "show", "two", "public_address")
    assert public["output_value"].startswith("203.0.113.")
    resources = {r["resource_name"]: r["resource_status"]
                 for r in _cli(live_server, "stack", "resource", "list", "two")}  # fmt: skip
    assert set(resources.values()) == {"CREATE_COMPLETE"} and "web" in resources
    events = _cli(live_server, "stack", "event", "list", "two")
    assert events[-1]["resource_status"] == "CREATE_COMPLETE"

    def web_servers() -> dict[str, str]:
        return {s["Name"]: s["ID"] for s in _cli(live_server, "server", "list")
                if "-web-" in s["Name"]}  # fmt: skip

    before = web_servers()
    assert sorted(before) == ["two-web-0", "two-web-1"]
    updated = _cli(live_server, "stack", "update", "-t", TWO_TIER, "--parameter", "web_count=4",
                   "--wait", "two")  # fmt: skip
    assert updated["stack_status"] == "UPDATE_COMPLETE", updated
    after = web_servers()
    assert sorted(after) == ["two-web-0", "two-web-1", "two-web-2", "two-web-3"]
    assert {k: after[k] for k in before} == before  # the first two servers were not touched
    web = _cli(live_server, "stack", "output", "show", "two", "web_addresses")
    assert len(web["output_value"]) == 4

    _run(live_server, "stack", "delete", "--wait", "--yes", "two")
    assert _cli(live_server, "stack", "list") == []
    assert _cli(live_server, "server", "list") == []
    assert [n["Name"] for n in _cli(live_server, "network", "list")] == ["public"]
