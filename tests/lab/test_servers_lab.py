"""Servers behind a router, end to end with the openstack CLI on a 3-host
lab: two servers on different networks and hosts, a security group opening
ICMP and TCP 80, floating IPs; the upstream fetches each server's busybox
page through its floating IP; stop/start keeps the address; the console
log shows the instance's services; delete leaves no port or namespace.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kumo.compiler import names
from tests.lab.labs import running_lab
from tests.lab.test_lab_root import netns_list
from tests.lab.test_secgroups_lab import openstack

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root and network namespaces"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2"),
]


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    with running_lab(tmp_path, "klv") as running:
        yield running


def show(state: Path, name: str) -> dict[str, object]:
    return dict(json.loads(openstack(state, "server", "show", name, "-f", "json")))


def wait_status(state: Path, name: str, status: str, timeout: float = 60) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while (server := show(state, name))["status"] != status:
        assert server["status"] != "ERROR", server
        assert time.monotonic() < deadline, f"{name} not {status}: {server['status']}"
        time.sleep(0.5)
    return server


def upstream_get(prefix: str, ip: str) -> str:
    done = subprocess.run(["ip", "netns", "exec", f"{prefix}up", "busybox", "wget", "-q", "-O",
                           "-", f"http://{ip}/"], capture_output=True, text=True, timeout=30)  # fmt: skip
    return done.stdout


def test_servers_behind_a_router_with_floating_ips(lab: tuple[Path, str]) -> None:
    state, prefix = lab
    for i in (1, 2):
        openstack(state, "network", "create", f"net{i}")
        openstack(state, "subnet", "create", "--network", f"net{i}", "--subnet-range",
                  f"10.91.{i}.0/24", f"sub{i}")  # fmt: skip
    openstack(state, "router", "create", "r1")
    openstack(state, "router", "set", "--external-gateway", "public", "r1")
    for i in (1, 2):
        openstack(state, "router", "add", "subnet", "r1", f"sub{i}")
    openstack(state, "security", "group", "create", "web")
    openstack(state, "security", "group", "rule", "create", "--protocol", "icmp", "web")
    openstack(state, "security", "group", "rule", "create", "--protocol", "tcp",
              "--dst-port", "80", "web")  # fmt: skip
    for i in (1, 2):
        openstack(state, "server", "create", "--image", "busybox", "--flavor", "m1.tiny",
                  "--network", f"net{i}", "--security-group", "web", f"vm{i}")  # fmt: skip
    servers = {f"vm{i}": wait_status(state, f"vm{i}", "ACTIVE") for i in (1, 2)}
    assert servers["vm1"]["OS-EXT-SRV-ATTR:host"] != servers["vm2"]["OS-EXT-SRV-ATTR:host"]

    fips = {}
    for name in servers:
        fip = openstack(state, "floating", "ip", "create", "public", "-f", "value",
                        "-c", "floating_ip_address").strip()  # fmt: skip
        openstack(state, "server", "add", "floating", "ip", name, fip)
        fips[name] = fip
    for name, fip in fips.items():
        deadline = time.monotonic() + 30
        while "kumo busybox instance" not in upstream_get(prefix, fip):
            assert time.monotonic() < deadline, f"{name}'s page not reachable at {fip}"
            time.sleep(0.3)

    # stop/start keeps the address
    before = show(state, "vm1")["addresses"]
    openstack(state, "server", "stop", "vm1")
    wait_status(state, "vm1", "SHUTOFF")
    openstack(state, "server", "start", "vm1")
    assert wait_status(state, "vm1", "ACTIVE")["addresses"] == before

    log = openstack(state, "console", "log", "show", "vm1")
    assert "kumo: busybox httpd on port 80" in log

    # delete cleans everything: ports and namespaces
    ids = {name: str(server["id"]) for name, server in servers.items()}
    for name in servers:
        openstack(state, "server", "delete", "--wait", name)
    for server_id in ids.values():
        ports = openstack(
            state, "port", "list", "--device-id", server_id, "-f", "value", "-c", "ID"
        )
        assert ports.strip() == ""
    deadline = time.monotonic() + 20
    hosts = [f"{prefix}host{i}" for i in (1, 2, 3)]
    while any(names.is_instance_netns(ns, h) for ns in netns_list() for h in hosts):
        assert time.monotonic() < deadline, "instance namespaces left behind"
        time.sleep(0.2)
