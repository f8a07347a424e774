"""Routing end to end: the openstack CLI against a 3-host lab (host3 is the
gateway host) with the external network ``public`` and its upstream.

Two projects with the same CIDRs behind their own distributed routers;
east-west across hosts and subnets without the gateway host seeing it;
SNAT to the upstream (ICMP and TCP); a floating IP reachable from the
upstream and re-associated to an instance on another host; an interface
removed. Needs root; its own prefix, state directory and API port.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kumo.compiler import names
from kumo.lab import supervisor
from kumo.lab.supervisor import LabState
from tests.dataplane.test_kernel_root import Capture
from tests.lab.labs import running_lab
from tests.lab.test_lab_root import KUMO, kumo, netns_list, ping
from tests.lab.test_secgroups_lab import openstack

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root and network namespaces"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2"),
]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    with running_lab(tmp_path, "klr") as running:
        yield running


def upstream(prefix: str, *cmd: str) -> bool:
    done = subprocess.run(["ip", "netns", "exec", f"{prefix}up", *cmd], capture_output=True,
                          timeout=30)  # fmt: skip
    return done.returncode == 0


def connect(state: Path, name: str, ip: str, port: int = 8080) -> bool:
    probe = f"import socket; socket.create_connection(({ip!r}, {port}), timeout=2)"
    cmd = [KUMO, "exec", name, "--state-dir", str(state), "--", sys.executable, "-c", probe]
    return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0


def eventually(check: object, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def test_projects_routers_snat_and_floating_ips(lab: tuple[Path, str]) -> None:
    state, prefix = lab
    h1, h2, h3 = (f"{prefix}host{i}" for i in (1, 2, 3))
    openstack(state, "project", "create", "p2")
    for project, tag in (("admin", "1"), ("p2", "2")):
        for side, cidr in (("a", "10.70.1.0/24"), ("b", "10.70.2.0/24")):
            openstack(state, "network", "create", "--project", project, f"net{tag}{side}")
            openstack(state, "subnet", "create", "--project", project, "--network",
                      f"net{tag}{side}", "--subnet-range", cidr, f"sub{tag}{side}")  # fmt: skip
        openstack(state, "router", "create", "--project", project, f"r{tag}")
        openstack(state, "router", "set", "--external-gateway", "public", f"r{tag}")
        for side in ("a", "b"):
            openstack(state, "router", "add", "subnet", f"r{tag}", f"sub{tag}{side}")
    # the gateway host holds both routers' SNAT
    agents = openstack(state, "network", "agent", "list", "--router", "r1", "-f", "value",
                       "-c", "Host")  # fmt: skip
    assert agents.split() == [h3]

    layout = {
        "a1": ("net1a", h1, "10.70.1.11"),
        "b1": ("net1b", h2, "10.70.2.12"),
        "a2": ("net2a", h2, "10.70.1.11"),  # the same address as a1, in p2
        "b2": ("net2b", h1, "10.70.2.22"),
    }
    for name, (net, host, ip) in layout.items():
        kumo(state, "lab", "instance", "create", name, "--network", net, "--host", host,
             "--ip", ip, "--disable-port-security")  # fmt: skip

    # east-west across hosts and subnets, in each project
    assert eventually(lambda: ping(state, "a1", "10.70.2.12", count=1))
    assert ping(state, "a2", "10.70.2.22")
    assert ping(state, "b2", "10.70.1.11")
    # p1's router does not reach p2's addresses
    assert not ping(state, "a1", "10.70.2.22", count=1)
    # the gateway host sees none of it
    capture = Capture(f"{prefix}h3", "udp port 4789")
    assert ping(state, "a1", "10.70.2.12", count=3)
    assert capture.stop() == []

    # SNAT through host3: ICMP and TCP to the upstream
    assert eventually(lambda: ping(state, "a1", "203.0.113.1", count=1))
    listener = subprocess.Popen(["ip", "netns", "exec", f"{prefix}up", "busybox", "httpd", "-f",
                                 "-p", "8080", "-h", "/"])  # fmt: skip
    try:
        time.sleep(0.3)
        assert connect(state, "a1", "203.0.113.1")
        assert connect(state, "b2", "203.0.113.1")
    finally:
        listener.kill()
        listener.wait()

    # a floating IP for b1 (host2): reachable from the upstream
    fip = openstack(state, "floating", "ip", "create", "public", "-f", "value",
                    "-c", "floating_ip_address").strip()  # fmt: skip
    openstack(state, "floating", "ip", "set", "--port", "b1", fip)
    assert eventually(lambda: upstream(prefix, "ping", "-c", "1", "-W", "1", fip))
    # ... moved to a1 (host1) within seconds
    openstack(state, "floating", "ip", "unset", "--port", fip)
    openstack(state, "floating", "ip", "set", "--port", "a1", fip)
    started = time.monotonic()
    assert eventually(lambda: upstream(prefix, "ping", "-c", "1", "-W", "1", fip))
    moved = time.monotonic() - started
    assert moved < 5, moved

    # restarting host1's agent (kill -9) drops neither routed nor NATed packets
    lab_state = LabState.load(state)
    assert lab_state is not None
    pingers = [
        subprocess.Popen(
            [
                KUMO,
                "exec",
                "a1",
                "--state-dir",
                str(state),
                "--",
                "ping",
                "-c",
                "30",
                "-i",
                "0.1",
                dst,
            ],
            stdout=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for dst in ("10.70.2.12", "203.0.113.1")
    ]
    time.sleep(0.5)
    killed = lab_state.pids[h1]
    os.killpg(killed, signal.SIGKILL)
    supervisor.wait_restarted(state, h1, killed)  # the lab's supervisor starts it again
    for proc in pingers:
        out, _ = proc.communicate(timeout=60)
        assert " 0% packet loss" in out, out
    assert upstream(prefix, "ping", "-c", "1", "-W", "1", fip)

    # removing an interface cuts that subnet off
    openstack(state, "router", "remove", "subnet", "r1", "sub1b")
    assert eventually(lambda: not ping(state, "a1", "10.70.2.12", count=1))
    assert ping(state, "a2", "10.70.2.22")

    # kumo down leaves no router namespace behind
    kumo(state, "down")
    hosts = (h1, h2, h3)
    left = [
        ns
        for ns in netns_list()
        if ns.startswith(prefix)
        or any(names.is_router_netns(ns, h) or names.is_instance_netns(ns, h) for h in hosts)
    ]
    assert left == []
