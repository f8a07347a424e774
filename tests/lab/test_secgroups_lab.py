"""Security groups end to end: the openstack CLI against a 3-host lab.

A group without ingress rules keeps a TCP service closed; one
``openstack security group rule create`` opens it on every host; taking the
group off a port closes that port again; deleting the rule closes the rest.
Needs root; its own prefix, state directory and API port.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab.labs import running_lab
from tests.lab.test_lab_root import KUMO, _api, kumo

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root and network namespaces"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2"),
]
OPENSTACK = str(Path(sys.executable).parent / "openstack")


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    with running_lab(tmp_path, "kls") as running:
        yield running


def openstack(state: Path, *args: str) -> str:
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(state / "clouds.yaml"), "OS_CLOUD": "kumo"}
    done = subprocess.run([OPENSTACK, *args], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def connects(state: Path, client: str, address: str, port: int = 22) -> bool:
    probe = f"import socket; socket.create_connection(({address!r}, {port}), timeout=0.5)"
    cmd = [KUMO, "exec", client, "--state-dir", str(state), "--", sys.executable, "-c", probe]
    return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0


def test_rule_opens_a_service_on_every_host(lab: tuple[Path, str]) -> None:
    state, prefix = lab
    api = _api(state)
    net = api.post("/networks", json={"network": {"name": "sgnet"}}).json()["network"]
    api.post("/subnets", json={"subnet": {"network_id": net["id"], "ip_version": 4,
                                          "cidr": "10.60.0.0/24"}})  # fmt: skip
    openstack(state, "security", "group", "create", "web")
    hosts = [f"{prefix}host{i}" for i in (1, 2, 3)]
    servers = {"s1": "10.60.0.11", "s2": "10.60.0.12", "s3": "10.60.0.13"}
    for (name, ip), host in zip(servers.items(), hosts, strict=True):
        kumo(state, "lab", "instance", "create", name, "--network", "sgnet", "--host", host,
             "--ip", ip, "--security-group", "web")  # fmt: skip
    kumo(state, "lab", "instance", "create", "c1", "--network", "sgnet", "--host", hosts[0],
         "--ip", "10.60.0.21")  # fmt: skip
    listeners = [
        subprocess.Popen(
            [
                KUMO,
                "exec",
                name,
                "--state-dir",
                str(state),
                "--",
                "busybox",
                "httpd",
                "-f",
                "-p",
                "22",
                "-h",
                "/",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for name in servers
    ]
    try:
        time.sleep(0.5)
        # default egress lets c1 send; web has no ingress rule: closed everywhere
        assert not any(connects(state, "c1", ip) for ip in servers.values())

        started = time.monotonic()
        openstack(state, "security", "group", "rule", "create", "--protocol", "tcp",
                  "--dst-port", "22", "--remote-ip", "0.0.0.0/0", "web")  # fmt: skip
        pending = dict(servers)
        while pending and time.monotonic() - started < 10:
            pending = {n: ip for n, ip in pending.items() if not connects(state, "c1", ip)}
        assert not pending, f"still closed after 10 s: {sorted(pending)}"

        # the group taken off one port closes that port only
        openstack(state, "port", "set", "--no-security-group", "s2")
        deadline = time.monotonic() + 10
        while connects(state, "c1", servers["s2"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not connects(state, "c1", servers["s2"])
        assert connects(state, "c1", servers["s3"])

        # deleting the rule closes the others
        rules = openstack(state, "security", "group", "rule", "list", "web", "--protocol", "tcp",
                          "-f", "value", "-c", "ID").split()  # fmt: skip
        assert len(rules) == 1
        openstack(state, "security", "group", "rule", "delete", rules[0])
        deadline = time.monotonic() + 10
        while connects(state, "c1", servers["s3"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not connects(state, "c1", servers["s1"])
        assert not connects(state, "c1", servers["s3"])
    finally:
        for proc in listeners:
            proc.kill()
            proc.wait(timeout=10)
