"""Provider networks end to end: the openstack CLI against a 3-host lab whose
hosts share the provider segment (``physnet1``, each host's ``eth1``).

Flat: instances on three hosts configured by DHCP reach each other over the
segment (untagged, nothing on the underlay) and never a VXLAN network with
the same CIDR; a server reads its metadata from its own host and nothing of
that crosses the segment; a second flat network is refused (409); the last
flat port of a host leaving releases the physical interface.

VLAN: a flat network and two VLANs with the same CIDR, the ping matrix
within and never across them, 802.1Q tags with the right VLAN ids on the
segment, full-size frames (the network's MTU) across it, frames of a VLAN a
host does not have never reaching its flat network, a VLAN id in use
refused (409). On a kernel without 802.1Q devices the agents carry VLANs
with tc programs (checked to be there); with them, by VLAN subinterfaces.
Needs root; its own prefix, state directory and API port.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kumo.compiler import names
from kumo.dataplane.kernel import vlan_devices_supported
from tests.dataplane.test_kernel_root import Capture
from tests.lab.labs import running_lab
from tests.lab.test_lab_root import KUMO, kumo, ping
from tests.lab.test_secgroups_lab import OPENSTACK, openstack

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root and network namespaces"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2"),
    pytest.mark.skipif(shutil.which("tcpdump") is None, reason="needs tcpdump"),
]

CIDR = "10.90.0.0/24"
GATEWAY = "10.90.0.1"


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    with running_lab(tmp_path, "klp") as running:
        yield running


def refused(state: Path, *args: str) -> str:
    """The error output of an openstack command that must fail."""
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(state / "clouds.yaml"), "OS_CLOUD": "kumo"}
    done = subprocess.run([OPENSTACK, *args], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode != 0, done.stdout
    return done.stderr


def vlan_devices() -> bool:
    """Whether this kernel makes 802.1Q VLAN devices (``VLAN_8021Q``)."""
    return vlan_devices_supported()


def run(state: Path, name: str, *cmd: str) -> str:
    done = subprocess.run([KUMO, "exec", name, "--state-dir", str(state), "--", *cmd],
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def eventually(check: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


Layout = dict[str, tuple[str, str, str]]
"""instance → (network, host, address)"""


def create_instances(state: Path, layout: Layout) -> None:
    """Lab instances with the given addresses, each configured by its host's
    DHCP answer: its address and the default route the lease carries
    (nothing configures either statically on a DHCP subnet)."""
    for name, (net, host, ip) in layout.items():
        kumo(state, "lab", "instance", "create", name, "--network", net, "--host", host,
             "--ip", ip)  # fmt: skip
    for name, (_, _, ip) in layout.items():
        assert f"inet {ip}/24" in run(state, name, "ip", "-4", "-o", "addr", "show", "dev", "eth0")
        routes = run(state, name, "ip", "-4", "route", "show", "proto", "dhcp")
        assert f"default via {GATEWAY}" in routes, (name, routes)


def ping_matrix(state: Path, layout: Layout) -> None:
    """Every instance reaches the others of its network and none of another."""
    for src, (src_net, _, _) in layout.items():
        for dst, (dst_net, _, dst_ip) in layout.items():
            if src == dst:
                continue
            if src_net == dst_net:
                reached = eventually(lambda s=src, d=dst_ip: ping(state, s, d, count=1))
                assert reached, (src, dst)
            else:
                assert not ping(state, src, dst_ip, count=1), (src, dst)


def test_flat_network_across_hosts(lab: tuple[Path, str]) -> None:
    state, prefix = lab
    h1, h2, h3 = (f"{prefix}host{i}" for i in (1, 2, 3))
    openstack(state, "network", "create", "--provider-network-type", "flat",
              "--provider-physical-network", "physnet1", "pnet")  # fmt: skip
    openstack(state, "network", "create", "tnet")  # VXLAN, the same CIDR
    for net in ("pnet", "tnet"):
        openstack(state, "subnet", "create", "--network", net, "--subnet-range", CIDR,
                  f"{net}-sub")  # fmt: skip
    # one flat network per physical network, as in Neutron
    flat = refused(state, "network", "create", "--provider-network-type", "flat",
                   "--provider-physical-network", "physnet1", "pnet2")  # fmt: skip
    assert "409" in flat and "Physical network physnet1 is in use" in flat, flat

    layout: Layout = {
        "f1": ("pnet", h1, "10.90.0.11"),
        "f2": ("pnet", h2, "10.90.0.12"),
        "t1": ("tnet", h1, "10.90.0.41"),
        "t2": ("tnet", h3, "10.90.0.42"),
    }
    create_instances(state, layout)
    # an address from the pool, by DHCP, on the third host
    kumo(state, "lab", "instance", "create", "f3", "--network", "pnet", "--host", h3)
    f3_ip = run(state, "f3", "ip", "-4", "-o", "addr", "show", "dev", "eth0").split()[3]
    assert f3_ip.startswith("10.90.0.") and f3_ip.endswith("/24"), f3_ip
    layout["f3"] = ("pnet", h3, f3_ip.split("/")[0])
    ping_matrix(state, layout)

    # on the provider segment (host1's leg): untagged, and nothing on the underlay
    untagged = Capture(f"{prefix}phys", "icmp or (vlan and icmp)", ifname="p1",
                       link_level=True)  # fmt: skip
    tunnel = Capture(f"{prefix}h1", "udp port 4789")
    assert ping(state, "f1", "10.90.0.12", count=2)
    assert tunnel.stop() == []
    lines = untagged.stop()
    assert len(lines) >= 4, lines
    assert all("802.1Q" not in line and "vlan" not in line for line in lines), lines
    assert any("10.90.0.11 > 10.90.0.12" in line for line in lines), lines

    # a server on the flat network (on host2) reads its metadata from its own host:
    # no answer for 169.254.169.254 and no metadata request crosses the segment
    openstack(state, "server", "create", "--image", "busybox", "--flavor", "m1.tiny",
              "--network", "pnet", "--availability-zone", f"nova:{h2}", "vm1")  # fmt: skip
    server = json.loads(openstack(state, "server", "show", "vm1", "-f", "json"))
    deadline = time.monotonic() + 60
    while server["status"] != "ACTIVE":
        assert time.monotonic() < deadline, server
        time.sleep(0.5)
        server = json.loads(openstack(state, "server", "show", "vm1", "-f", "json"))
    quiet = "tcp port 80 or (arp[6:2] = 2 and arp src host 169.254.169.254)"
    captures = [Capture(f"{prefix}phys", quiet, ifname=f"p{i}") for i in (1, 2, 3)]

    def fetch() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [KUMO, "exec", "vm1", "--state-dir", str(state), "--", "timeout", "10", "busybox",
             "wget", "-qO-", "http://169.254.169.254/openstack/latest/meta_data.json"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    got = fetch()
    deadline = time.monotonic() + 30
    while got.returncode != 0:  # until its DHCP client has configured it
        assert time.monotonic() < deadline, got.stderr
        time.sleep(0.5)
        got = fetch()
    assert json.loads(got.stdout)["uuid"] == server["id"]
    assert [c.stop() for c in captures] == [[], [], []]

    # host1's last flat port goes: eth1 leaves the flat bridge
    kumo(state, "lab", "instance", "delete", "f1")

    def released() -> bool:
        shown = subprocess.run(["ip", "-n", f"{prefix}h1", "-o", "link", "show", "eth1"],
                               capture_output=True, text=True).stdout  # fmt: skip
        return "eth1" in shown and " master " not in shown

    assert eventually(released)
    assert ping(state, "f2", layout["f3"][2])
    assert ping(state, "t1", "10.90.0.42")


@pytest.fixture
def vlan_lab(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    with running_lab(tmp_path, "klv") as running:
        yield running


def test_vlan_networks_across_hosts(vlan_lab: tuple[Path, str]) -> None:
    state, prefix = vlan_lab
    h1, h2, h3 = (f"{prefix}host{i}" for i in (1, 2, 3))
    nets = {
        "pnet": ("--provider-network-type", "flat"),
        "vnet": ("--provider-network-type", "vlan", "--provider-segment", "100"),
        "wnet": ("--provider-network-type", "vlan", "--provider-segment", "101"),
    }
    for net, provider in nets.items():
        openstack(state, "network", "create", *provider, "--provider-physical-network",
                  "physnet1", net)  # fmt: skip
        openstack(state, "subnet", "create", "--network", net, "--subnet-range", CIDR,
                  f"{net}-sub")  # fmt: skip
    # a VLAN id once per physical network, as in Neutron
    vlan = refused(state, "network", "create", "--provider-network-type", "vlan",
                   "--provider-physical-network", "physnet1", "--provider-segment", "100",
                   "vnet2")  # fmt: skip
    assert "409" in vlan and "The VLAN 100 on physical network physnet1 is in use" in vlan, vlan

    layout: Layout = {
        "f1": ("pnet", h1, "10.90.0.11"),
        "f2": ("pnet", h2, "10.90.0.12"),
        "v1": ("vnet", h1, "10.90.0.21"),
        "v2": ("vnet", h3, "10.90.0.22"),
        "w1": ("wnet", h2, "10.90.0.31"),
        "w2": ("wnet", h3, "10.90.0.32"),
    }
    create_instances(state, layout)
    ping_matrix(state, layout)

    # on the provider segment (host1's leg): VLAN 100 carries its tag, and
    # none of its traffic shows up as VLAN 101
    tagged = Capture(f"{prefix}phys", "vlan 100 and icmp", ifname="p1", link_level=True)
    assert ping(state, "v1", "10.90.0.22", count=2)
    lines = tagged.stop()
    assert len(lines) >= 4, lines
    assert all("vlan 100" in line and "10.90.0.2" in line for line in lines), lines
    other = Capture(f"{prefix}phys", "vlan 101 and host 10.90.0.22", ifname="p1",
                    link_level=True)  # fmt: skip
    assert ping(state, "v1", "10.90.0.22", count=2)
    assert other.stop() == []

    # the network's MTU holds on the wire: full-size frames, not fragmented
    full = Capture(f"{prefix}phys", "vlan 100 and icmp", ifname="p1", link_level=True)
    run(state, "v1", "ping", "-c", "1", "-W", "2", "-M", "do", "-s", "1472", "10.90.0.22")
    lines = full.stop()
    assert any("length 1518" in line for line in lines), lines

    # how this host carries VLANs: tc programs without 802.1Q devices
    programs = subprocess.run(["tc", "-n", f"{prefix}h1", "filter", "show", "dev", "eth1",
                               "ingress"], capture_output=True, text=True).stdout  # fmt: skip
    assert ("kumo:vlan-split" in programs) != vlan_devices(), programs

    # VLAN 101 is not on host1: its broadcasts arrive on host1's eth1 and go
    # no further (never into the flat network's bridge)
    pnet = openstack(state, "network", "show", "pnet", "-f", "value", "-c", "id").strip()
    leak = Capture(f"{prefix}h1", "vlan or arp", ifname=names.bridge_name(pnet), link_level=True)
    wire = Capture(f"{prefix}h1", "vlan 101 and arp", ifname="eth1", link_level=True)
    assert not ping(state, "w1", "10.90.0.99", count=2)  # ARP broadcasts on VLAN 101
    assert wire.stop(), "VLAN 101 broadcasts reach host1"
    assert [line for line in leak.stop() if "10.90.0.99" in line] == []

    # host1's last flat port goes: eth1 leaves the flat bridge, its VLAN stays up
    kumo(state, "lab", "instance", "delete", "f1")
    assert ping(state, "v1", "10.90.0.22")
