"""End to end: servers, flavors, images, keypairs and hosts with the real ``openstack`` CLI.

A fake host agent (registration and heartbeats over the internal API) stands
for a compute host; it reports the server's ports ACTIVE as a real agent does
once it has wired them.
"""

from __future__ import annotations

import json
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


def _cli(server: LiveServer, *args: str) -> Any:
    out = subprocess.run(
        [OPENSTACK, *args, "-f", "json"],
        env=server.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if out.stdout.strip() else None


def _run(server: LiveServer, *args: str) -> str:
    out = subprocess.run(
        [OPENSTACK, *args], env=server.env(), capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture
def agent(live_server: LiveServer) -> Iterator[dict[str, str]]:
    """host ``cmp1`` registered and kept alive; yields the admin headers."""
    headers = {"X-Auth-Token": live_server.token()}
    body = {"agent": {"host": "cmp1", "configurations": {"vcpus": 4, "memory_mb": 4096}}}
    r = httpx.post(f"{live_server.base}/internal/v1/agents", json=body, headers=headers)
    assert r.status_code == 201, r.text
    agent_id = r.json()["agent"]["id"]
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(2):
            httpx.post(
                f"{live_server.base}/internal/v1/agents/{agent_id}/heartbeat",
                json={},
                headers=headers,
            )

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    yield headers
    stop.set()
    thread.join()


def _wire(server: LiveServer, headers: dict[str, str], server_id: str) -> None:
    ports = httpx.get(
        f"{server.base}/networking/v2.0/ports?device_id={server_id}", headers=headers
    ).json()["ports"]
    r = httpx.post(
        f"{server.base}/internal/v1/ports/status",
        json={"active": [p["id"] for p in ports]},
        headers=headers,
    )
    assert r.status_code == 200, r.text


def test_cli_server_lifecycle(live_server: LiveServer, agent: dict[str, str]) -> None:
    flavors = _cli(live_server, "flavor", "list")
    assert {"m1.tiny", "m1.small", "m1.medium"} <= {f["Name"] for f in flavors}
    images = _cli(live_server, "image", "list")
    assert [(i["Name"], i["Status"]) for i in images] == [("busybox", "active")]
    _cli(live_server, "network", "create", "net1")
    _cli(
        live_server, "subnet", "create", "--network", "net1", "--subnet-range", "10.9.0.0/24", "s1"
    )

    made = _cli(
        live_server,
        "server", "create", "--image", "busybox", "--flavor", "m1.tiny", "--network", "net1", "vm1",
    )  # fmt: skip
    assert made["name"] == "vm1" and made["status"] == "BUILD"
    listed = _cli(live_server, "server", "list")
    assert [(s["Name"], s["Status"]) for s in listed] == [("vm1", "BUILD")]
    _wire(live_server, agent, made["id"])
    shown = _cli(live_server, "server", "show", "vm1")
    assert shown["status"] == "ACTIVE"
    assert shown["OS-EXT-SRV-ATTR:host"] == "cmp1"
    assert "m1.tiny" in json.dumps(shown["flavor"])
    assert "10.9.0." in json.dumps(shown["addresses"])
    listed = _cli(live_server, "server", "list")
    assert listed[0]["Status"] == "ACTIVE" and "net1=10.9.0." in json.dumps(
        listed[0]["Networks"]
    ).replace('": ["', "=")

    _run(live_server, "server", "stop", "vm1")
    assert _cli(live_server, "server", "show", "vm1")["status"] == "SHUTOFF"
    _run(live_server, "server", "start", "vm1")
    assert _cli(live_server, "server", "show", "vm1")["status"] == "ACTIVE"
    _run(live_server, "server", "reboot", "vm1")
    assert _cli(live_server, "server", "show", "vm1")["status"] == "ACTIVE"

    port = _cli(live_server, "port", "create", "--network", "net1", "extra")
    _run(live_server, "server", "add", "port", "vm1", "extra")
    assert _cli(live_server, "port", "show", "extra")["device_id"] == made["id"]
    _run(live_server, "server", "remove", "port", "vm1", "extra")
    assert _cli(live_server, "port", "show", "extra")["device_id"] == ""

    key = _run(live_server, "keypair", "create", "k1")
    assert "PRIVATE KEY" in key
    assert [k["Name"] for k in _cli(live_server, "keypair", "list")] == ["k1"]

    hypervisors = _cli(live_server, "hypervisor", "list")
    assert [h["Hypervisor Hostname"] for h in hypervisors] == ["cmp1"]
    services = _cli(live_server, "compute", "service", "list")
    assert ("nova-compute", "cmp1", "up") in {
        (s["Binary"], s["Host"], s["State"]) for s in services
    }
    zones = _cli(live_server, "availability", "zone", "list", "--compute")
    assert ("nova", "available") in {(z["Zone Name"], z["Zone Status"]) for z in zones}

    _run(live_server, "server", "delete", "vm1")
    assert _cli(live_server, "server", "list") == []
    ports = _cli(live_server, "port", "list", "--network", "net1")
    assert [p["ID"] for p in ports] == [port["id"]]
