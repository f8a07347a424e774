"""Floating IP port forwarding end to end: the openstack CLI against a
3-host lab (host3 is the gateway host) with the external network ``public``
and its upstream.

One floating IP forwards TCP 80 to an httpd on host1's instance, TCP 81 to
an httpd and UDP 5353 to an echo server on host2's instance: host1 answers
ARP for the address and relays host2's frames to host2, which translates
and answers them itself. From the upstream, each works, the replies come
from the floating IP's port, and the instances see the upstream's own
address; a range of ports goes port by port; the instances reach the
forwarded ports (hairpin) served on their own host, on the answering host
from host2, on host2 from the answering host, and on both from host3's
instance, whose host neither serves nor answers; deleting a forwarding
stops it; when
host1 fails (agent killed, off the external network) host2 answers for
the address within seconds. Needs root; its own prefix, state directory
and API port.
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
from tests.lab.test_lab_root import KUMO, kumo
from tests.lab.test_routing_lab import eventually
from tests.lab.test_secgroups_lab import openstack

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root and network namespaces"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2"),
]

HTTP = """
import socket, sys
s = socket.create_connection(({ip!r}, {port}), timeout=2)
s.sendall(b"GET /kumo-pf HTTP/1.0\\r\\n\\r\\n")
line = s.makefile("rb").readline()
sys.exit(0 if line.startswith(b"HTTP/1.") else 1)
"""
UDP = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.sendto(b"ping", ({ip!r}, {port}))
data, peer = s.recvfrom(100)
print(peer[0], peer[1], data.decode())
"""
ECHO = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 5353))
while True:
    data, peer = s.recvfrom(100)
    s.sendto(data + b" from " + peer[0].encode(), peer)
"""


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    # a dead agent is noticed after 10 s (heartbeats every 5 s)
    os.environ["KUMO_AGENT_DOWN_TIME"] = "10"
    try:
        with running_lab(tmp_path, "kpf") as running:
            yield running
    finally:
        del os.environ["KUMO_AGENT_DOWN_TIME"]


def from_upstream(prefix: str, script: str) -> subprocess.CompletedProcess[str]:
    cmd = ["ip", "netns", "exec", f"{prefix}up", sys.executable, "-c", script]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def http(prefix: str, ip: str, port: int) -> bool:
    return from_upstream(prefix, HTTP.format(ip=ip, port=port)).returncode == 0


def http_from(state: Path, name: str, ip: str, port: int) -> bool:
    """An instance reaching a floating IP's forwarded port (hairpin)."""
    cmd = [KUMO, "exec", name, "--state-dir", str(state), "--", sys.executable, "-c",
           HTTP.format(ip=ip, port=port)]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, timeout=30).returncode == 0


def in_instance_run(state: Path, name: str, script: str) -> subprocess.CompletedProcess[str]:
    cmd = [KUMO, "exec", name, "--state-dir", str(state), "--", sys.executable, "-c", script]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30)


def in_instance(state: Path, name: str, *cmd: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([KUMO, "exec", name, "--state-dir", str(state), "--", *cmd],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def test_forwarded_ports_reach_instances_on_two_hosts(lab: tuple[Path, str]) -> None:
    state, prefix = lab
    h1, h2 = f"{prefix}host1", f"{prefix}host2"
    openstack(state, "network", "create", "pfnet")
    openstack(state, "subnet", "create", "--network", "pfnet", "--subnet-range",
              "10.85.1.0/24", "pfsub")  # fmt: skip
    openstack(state, "router", "create", "pfr")
    openstack(state, "router", "set", "--external-gateway", "public", "pfr")
    openstack(state, "router", "add", "subnet", "pfr", "pfsub")
    for name, host, ip in (
        ("w1", h1, "10.85.1.11"),
        ("w2", h2, "10.85.1.12"),
        ("w3", f"{prefix}host3", "10.85.1.13"),
    ):
        kumo(state, "lab", "instance", "create", name, "--network", "pfnet", "--host", host,
             "--ip", ip, "--disable-port-security")  # fmt: skip
    servers = [
        in_instance(state, "w1", "busybox", "httpd", "-f", "-p", "8080", "-h", "/"),
        in_instance(state, "w1", "busybox", "httpd", "-f", "-p", "8081", "-h", "/"),
        in_instance(state, "w1", "busybox", "httpd", "-f", "-p", "8082", "-h", "/"),
        in_instance(state, "w2", "busybox", "httpd", "-f", "-p", "8081", "-h", "/"),
        in_instance(state, "w2", sys.executable, "-c", ECHO),
    ]
    try:
        fip = openstack(state, "floating", "ip", "create", "public", "-f", "value",
                        "-c", "floating_ip_address").strip()  # fmt: skip
        made = {}
        for port, ip, inside, outside, proto in (
            ("w1", "10.85.1.11", "8080", "80", "tcp"),
            ("w2", "10.85.1.12", "8081", "81", "tcp"),
            ("w2", "10.85.1.12", "5353", "5353", "udp"),
        ):
            made[(proto, outside)] = openstack(
                state, "floating", "ip", "port", "forwarding", "create", "--port", port,
                "--internal-ip-address", ip, "--internal-protocol-port", inside,
                "--external-protocol-port", outside, "--protocol", proto, fip,
                "-f", "value", "-c", "id",
            ).strip()  # fmt: skip
        # served on host1 (which answers ARP) and, relayed, on host2
        assert eventually(lambda: http(prefix, fip, 80), timeout=20)
        assert eventually(lambda: http(prefix, fip, 81), timeout=10)
        # UDP: the reply comes from the floating IP's port; the instance saw
        # the upstream's own address
        got = from_upstream(prefix, UDP.format(ip=fip, port=5353))
        assert got.returncode == 0, got.stderr
        assert got.stdout.split() == [fip, "5353", "ping", "from", "203.0.113.1"]
        # a port nobody forwards stays closed
        assert not http(prefix, fip, 82)

        # a range of ports, port by port (7081 -> w1:8082), served on host1
        openstack(state, "floating", "ip", "port", "forwarding", "create", "--port", "w1",
                  "--internal-ip-address", "10.85.1.11", "--internal-protocol-port", "8081:8082",
                  "--external-protocol-port", "7080:7081", "--protocol", "tcp", fip)  # fmt: skip
        assert eventually(lambda: http(prefix, fip, 7081), timeout=10)
        assert http(prefix, fip, 7080)

        # hairpin: the instances reach their own network's forwarded ports
        # served on their own host (translated there, from the router's
        # address)
        assert http_from(state, "w1", fip, 80)
        assert http_from(state, "w1", fip, 7081)
        assert http_from(state, "w2", fip, 81)
        # and on another host: from host2 to the answering host1, from
        # host1 to host2, from host3 (neither serves nor answers) to both;
        # steered to the serving host's leg and translated there, from the
        # router's address (the replies come back through it)
        assert http_from(state, "w2", fip, 80)
        assert http_from(state, "w1", fip, 81)
        assert http_from(state, "w3", fip, 80)
        assert http_from(state, "w3", fip, 81)
        got = in_instance_run(state, "w3", UDP.format(ip=fip, port=5353))
        assert got.returncode == 0, got.stderr
        assert got.stdout.split() == [fip, "5353", "ping", "from", "10.85.1.1"]

        # deleting a forwarding stops it; the others go on
        openstack(state, "floating", "ip", "port", "forwarding", "delete", fip,
                  made[("tcp", "81")])  # fmt: skip
        assert eventually(lambda: not http(prefix, fip, 81), timeout=10)
        assert http(prefix, fip, 80)
        openstack(state, "floating", "ip", "port", "forwarding", "delete", fip,
                  made[("tcp", "80")])  # fmt: skip
        assert eventually(lambda: not http(prefix, fip, 80), timeout=10)
        got = from_upstream(prefix, UDP.format(ip=fip, port=5353))
        assert got.returncode == 0, got.stderr

        # host1 (answering) fails: its agent dies and it drops off the
        # external network; host2 takes the address over and serves its own
        kumo(state, "lab", "stop", "agent", "host1", "--signal", "KILL")
        subprocess.run(["ip", "-n", f"{prefix}h1", "link", "set", "eth2", "down"], check=True)
        started = time.monotonic()
        udp = UDP.format(ip=fip, port=5353)
        assert eventually(lambda: from_upstream(prefix, udp).returncode == 0, timeout=40)
        print(f"forwarding resumed {time.monotonic() - started:.1f} s after the agent died")
    finally:
        for proc in servers:
            proc.kill()
            proc.wait(timeout=10)
