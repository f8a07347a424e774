"""The whole lab on the real kernel: kumo up, instances, ping matrix, agent
kill -9 and restart under traffic, port delete, kumo down with no leftovers.

Needs root (CI runs as root). Uses its own namespace prefix, host names,
state directory and API port, and sends traffic only between its own
namespaces.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kumo.compiler import names
from kumo.lab import supervisor
from kumo.lab.supervisor import LabState
from tests.live import _free_port

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root and network namespaces"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2"),
]
KUMO = str(Path(sys.executable).parent / "kumo")


def kumo(state: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [KUMO, *args, "--state-dir", str(state)], capture_output=True, text=True, timeout=120
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def ping(state: Path, name: str, address: str, count: int = 2) -> bool:
    cmd = [
        KUMO,
        "exec",
        name,
        "--state-dir",
        str(state),
        "--",
        "ping",
        "-c",
        str(count),
        "-W",
        "1",
        address,
    ]
    return subprocess.run(cmd, capture_output=True, timeout=60).returncode == 0


def netns_list() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    prefix = f"klt{uuid.uuid4().hex[:4]}-"
    state = tmp_path / "lab"
    port = _free_port()
    try:
        kumo(state, "up", "--hosts", "3", "--port", str(port), "--prefix", prefix, "--detach")
        yield state, prefix
    finally:
        kumo(state, "down", check=False)
        for ns in netns_list():
            if ns.startswith(prefix) or any(
                ns.startswith(names.instance_netns_prefix(f"{prefix}host{i}")) for i in (1, 2, 3)
            ):
                subprocess.run(["ip", "netns", "delete", ns], check=False)


def _api(state: Path) -> httpx.Client:
    lab_state = LabState.load(state)
    assert lab_state is not None
    token = supervisor._admin_token(state, lab_state.api_url)
    return httpx.Client(
        base_url=f"{lab_state.api_url}/networking/v2.0", headers={"X-Auth-Token": token}, timeout=30
    )


def test_lab_overlay_end_to_end(lab: tuple[Path, str]) -> None:
    state, prefix = lab
    api = _api(state)
    nets = {}
    for name in ("red", "blue"):
        net = api.post("/networks", json={"network": {"name": name}}).json()["network"]
        api.post(
            "/subnets",
            json={"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.50.0.0/24"}},
        )
        nets[name] = net
    h = [f"{prefix}host{i}" for i in (1, 2, 3)]
    layout = {
        "r1": ("red", h[0], "10.50.0.11"),
        "r2": ("red", h[1], "10.50.0.12"),
        "r3": ("red", h[2], "10.50.0.13"),
        "b1": ("blue", h[0], "10.50.0.21"),
        "b2": ("blue", h[2], "10.50.0.22"),
    }
    for inst, (net, host, ip) in layout.items():
        kumo(state, "lab", "instance", "create", inst, "--network", net, "--host", host, "--ip", ip)

    # Full matrix: same network reaches across hosts, the other network (same CIDR) does not.
    for src, (snet, _shost, _sip) in layout.items():
        for dst, (dnet, _dhost, dip) in layout.items():
            if src == dst:
                continue
            assert ping(state, src, dip, count=1) == (snet == dnet), f"{src} -> {dst}"

    def ifindex(host_ns: str, ifname: str) -> str:
        out = subprocess.run(
            ["ip", "-n", host_ns, "-o", "link", "show", ifname], capture_output=True, text=True
        )
        return out.stdout.split(":", 1)[0]

    r2_port = next(p for p in api.get("/ports").json()["ports"] if p["name"] == "r2")
    r2_tap = ifindex(f"{prefix}h2", names.tap_name(r2_port["id"]))
    assert r2_tap

    # kill -9 the agent of r2's host while r1 pings r2; restart it: nothing lost.
    lab_state = LabState.load(state)
    assert lab_state is not None
    pinger = subprocess.Popen(
        [
            KUMO,
            "exec",
            "r1",
            "--state-dir",
            str(state),
            "--",
            "ping",
            "-c",
            "40",
            "-i",
            "0.1",
            "10.50.0.12",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)
    killed = lab_state.pids[h[1]]
    os.killpg(killed, signal.SIGKILL)
    # the lab's supervisor starts it again
    supervisor.wait_restarted(state, h[1], killed)
    out, _ = pinger.communicate(timeout=60)
    assert " 0% packet loss" in out, out

    # The restarted agent resynced without rebuilding r2's plumbing (same
    # interface), and a new instance on that host still wires.
    assert ifindex(f"{prefix}h2", names.tap_name(r2_port["id"])) == r2_tap
    kumo(
        state,
        "lab",
        "instance",
        "create",
        "r4",
        "--network",
        "red",
        "--host",
        h[1],
        "--ip",
        "10.50.0.14",
    )
    assert ping(state, "r1", "10.50.0.14")

    # Restart the API: agents re-watch from their revision and catch up.
    supervisor.control(state, "restart", "api")
    api = _api(state)
    kumo(
        state,
        "lab",
        "instance",
        "create",
        "r5",
        "--network",
        "red",
        "--host",
        h[2],
        "--ip",
        "10.50.0.15",
    )
    assert ping(state, "r1", "10.50.0.15")

    # Deleting an instance removes its namespace and its host end.
    ports = {p["name"]: p for p in api.get("/ports").json()["ports"]}
    r4 = ports["r4"]
    kumo(state, "lab", "instance", "delete", "r4")
    ns = names.instance_netns(h[1], r4["id"])
    deadline = time.monotonic() + 5
    while ns in netns_list():
        assert time.monotonic() < deadline, f"{ns} still present"
        time.sleep(0.05)
    # The kernel destroys a namespace (and the veth pair with it) asynchronously.
    deadline = time.monotonic() + 5
    while (
        names.tap_name(r4["id"])
        in subprocess.run(
            ["ip", "-n", f"{prefix}h2", "-o", "link"], capture_output=True, text=True
        ).stdout
    ):
        assert time.monotonic() < deadline, "host end of the deleted instance still present"
        time.sleep(0.05)
    assert ping(state, "r1", "10.50.0.12")

    kumo(state, "down")
    left = [
        n
        for n in netns_list()
        if n.startswith(prefix) or any(n.startswith(names.instance_netns_prefix(x)) for x in h)
    ]
    assert left == []
    assert not (state / "lab.json").exists()
