"""Highly available gateways end to end: the openstack CLI against a 3-host
lab whose host2 and host3 are gateway hosts and whose routers are HA by
default (``kumo up --gateways 2 --l3-ha``).

An instance on host1 without a floating IP reaches the upstream through
the router's SNAT; the API shows one active and one standby gateway. The
active gateway host's agent is killed with SIGKILL: UDP and an established
TCP connection keep flowing, the API shows the other host active, one host
answers ARP for the router's external IP. The killed agent comes back as a
standby (no preemption). A floating IP (distributed, on host1) is not
touched by any of it. Then the active host's underlay link is cut and
restored: the other host takes over and keeps the router. Needs root; its
own prefix, state directory and port.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kumo.compiler import names
from kumo.lab import supervisor
from tests.dataplane.ha_nodes import PROBE, arp_responders, wait_for
from tests.lab.labs import running_lab
from tests.lab.test_lab_root import kumo, ping
from tests.lab.test_secgroups_lab import openstack

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root and network namespaces"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2"),
]

UPSTREAM = "203.0.113.1"


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    with running_lab(tmp_path, "kha", "--gateways", "2", "--l3-ha") as running:
        yield running


def l3_agents(state: Path, router: str) -> dict[str, str]:
    """host → HA state, as ``openstack network agent list --router R --long`` shows it."""
    out = openstack(state, "network", "agent", "list", "--router", router, "--long",
                    "-f", "json")  # fmt: skip
    return {row["Host"]: row["HA State"] for row in json.loads(out)}


def probe(prefix: str, instance_ns: str, mode: str, seconds: float) -> subprocess.Popen[str]:
    import sys

    return subprocess.Popen(
        ["ip", "netns", "exec", instance_ns, sys.executable, PROBE, mode, UPSTREAM, "7777",
         str(seconds)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def result(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    data: dict[str, Any] = json.loads(out)
    return data


def largest_gap(replies: list[float], start: float, end: float) -> float:
    times = [start, *(t for t in replies if start <= t <= end), end]
    return max(b - a for a, b in zip(times, times[1:], strict=False))


def test_ha_router_survives_the_loss_of_its_active_gateway(lab: tuple[Path, str]) -> None:
    import sys

    state, prefix = lab
    h1, h2, h3 = (f"{prefix}host{i}" for i in (1, 2, 3))
    openstack(state, "network", "create", "neta")
    openstack(state, "subnet", "create", "--network", "neta", "--subnet-range", "10.80.1.0/24",
              "suba")  # fmt: skip
    openstack(state, "router", "create", "r1")
    router = json.loads(openstack(state, "router", "show", "r1", "-f", "json"))
    assert router["ha"] is True
    openstack(state, "router", "set", "--external-gateway", "public", "r1")
    openstack(state, "router", "add", "subnet", "r1", "suba")
    kumo(state, "lab", "instance", "create", "a1", "--network", "neta", "--host", h1,
         "--ip", "10.80.1.11", "--disable-port-security")  # fmt: skip
    kumo(state, "lab", "instance", "create", "f1", "--network", "neta", "--host", h1,
         "--ip", "10.80.1.12", "--disable-port-security")  # fmt: skip
    fip = openstack(state, "floating", "ip", "create", "public", "--port",
                    _port_of(state, "10.80.1.12"), "-f", "value",
                    "-c", "floating_ip_address").strip()  # fmt: skip

    # One active, one standby, as the API shows it.
    wait_for(lambda: sorted(l3_agents(state, "r1").values()) == ["active", "standby"],
             timeout=30, step=0.5)  # fmt: skip
    agents = l3_agents(state, "r1")
    assert set(agents) == {h2, h3}
    active = next(h for h, st in agents.items() if st == "active")
    standby = next(h for h, st in agents.items() if st == "standby")
    wait_for(lambda: ping(state, "a1", UPSTREAM, count=1), timeout=20, step=0.5)
    external_ip = json.loads(openstack(state, "router", "show", "r1", "-f", "json"))[
        "external_gateway_info"]["external_fixed_ips"][0]["ip_address"]  # fmt: skip
    assert arp_responders(f"{prefix}up", external_ip) == 3

    server = subprocess.Popen(["ip", "netns", "exec", f"{prefix}up", sys.executable, PROBE,
                               "serve", "7777"])  # fmt: skip
    try:
        time.sleep(0.3)
        a1 = names.instance_netns(h1, _port_of(state, "10.80.1.11"))
        udp = probe(prefix, a1, "udp", 8)
        tcp = probe(prefix, a1, "tcp", 8)
        fip_ping = subprocess.Popen(
            ["ip", "netns", "exec", f"{prefix}up", "ping", "-i", "0.01", "-w", "8", "-q", fip],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        time.sleep(2.5)
        killed_at = time.monotonic()
        # held down by the supervisor until started again below
        supervisor.control(state, "stop", active, "KILL")

        u, t = result(udp), result(tcp)
        fip_out, _ = fip_ping.communicate(timeout=30)
        # Traffic continued through the other gateway.
        assert u["replies"] and u["replies"][-1] > killed_at + 3
        assert largest_gap(u["replies"], killed_at - 0.5, killed_at + 3) < 2.0
        # The established TCP connection survived (its state was synced).
        assert t["error"] is None, t["error"]
        assert t["replies"][-1] > killed_at + 3
        # The floating IP (distributed, on host1) lost nothing.
        assert " 0% packet loss" in fip_out, fip_out

        # The API shows the new active gateway; one host answers for the address.
        wait_for(lambda: l3_agents(state, "r1").get(standby) == "active", timeout=30, step=0.5)
        assert arp_responders(f"{prefix}up", external_ip) == 3

        # The killed agent comes back: it stays standby.
        supervisor.control(state, "start", active)
        wait_for(lambda: l3_agents(state, "r1").get(active) == "standby", timeout=30, step=0.5)
        time.sleep(2)
        assert l3_agents(state, "r1") == {standby: "active", active: "standby"}
        assert ping(state, "a1", UPSTREAM, count=2)
        assert arp_responders(f"{prefix}up", external_ip) == 3

        # The active host's underlay link is cut: it releases, the other takes
        # over, and after the link is back it stays standby.
        link = f"u{standby.removeprefix(f'{prefix}host')}"
        cut_at = time.monotonic()
        subprocess.run(["ip", "-n", f"{prefix}ul", "link", "set", link, "down"], check=True)
        wait_for(lambda: l3_agents(state, "r1") == {active: "active", standby: "standby"},
                 timeout=30, step=0.5)  # fmt: skip
        assert ping(state, "a1", UPSTREAM, count=2)
        assert time.monotonic() - cut_at < 30
        assert arp_responders(f"{prefix}up", external_ip) == 3
        subprocess.run(["ip", "-n", f"{prefix}ul", "link", "set", link, "up"], check=True)
        time.sleep(3)
        assert l3_agents(state, "r1") == {active: "active", standby: "standby"}
        assert ping(state, "a1", UPSTREAM, count=2)
    finally:
        server.kill()
        server.wait(timeout=10)


def _port_of(state: Path, ip: str) -> str:
    out = openstack(state, "port", "list", "--fixed-ip", f"ip-address={ip}", "-f", "value",
                    "-c", "ID")  # fmt: skip
    return out.split()[0]
