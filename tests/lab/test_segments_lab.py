"""A routed provider network end to end: the openstack CLI, the API, the
watch and the agents of a 3-host lab started with ``--physnet rack1:host1
--physnet rack2:host2`` (host1's ``eth3`` on rack1, host2's on rack2, host3
on neither).

The admin makes a network with a flat segment on rack1, adds one on rack2
and a subnet on each; a server on host1 and one on host2 take their own
segment's address by DHCP with the route to the peer segment's subnet, and
reach each other through the provider's router (a namespace with a leg and
a gateway on each rack), never over one L2. A port made without a host
waits for its binding (``ip_allocation`` deferred) and takes host1's
segment's address once bound there; a port bound to host3 is refused
(``HostNotConnectedToAnySegment``). Needs root; its own prefix, state
directory and API port.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kumo.compiler import names
from tests.lab.labs import running_lab
from tests.lab.test_provider_lab import eventually, refused, run
from tests.lab.test_secgroups_lab import openstack
from tests.lab.test_servers_lab import wait_status

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root and network namespaces"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2"),
    pytest.mark.skipif(shutil.which("busybox") is None, reason="needs busybox"),
]

RACKS = {"rack1": ("10.71.1.0/24", "10.71.1.1"), "rack2": ("10.71.2.0/24", "10.71.2.1")}


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    with running_lab(tmp_path, "krs", "--physnet", "rack1:host1",
                     "--physnet", "rack2:host2") as running:  # fmt: skip
        yield running


def ip(*args: str) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout


def provider_router(prefix: str) -> str:
    """The provider's router: a namespace (the lab's prefix, so the lab's
    cleanup takes it) with a leg on each rack's bridge holding its gateway."""
    router = f"{prefix}rtr"
    ip("netns", "add", router)
    for k, (cidr, gateway) in enumerate(RACKS.values(), start=1):
        ip("-n", router, "link", "add", f"r{k}", "type", "veth", "peer", "name", "rtr",
           "netns", f"{prefix}pn{k}")  # fmt: skip
        ip("-n", f"{prefix}pn{k}", "link", "set", "rtr", "master", "br0", "up")
        ip("-n", router, "addr", "add", f"{gateway}/{cidr.split('/')[1]}", "dev", f"r{k}")
        ip("-n", router, "link", "set", f"r{k}", "up")
    subprocess.run(["ip", "netns", "exec", router, "sysctl", "-qw", "net.ipv4.ip_forward=1"],
                   check=True, capture_output=True)  # fmt: skip
    return router


def test_servers_on_two_segments_reach_each_other_through_the_providers_router(
    lab: tuple[Path, str],
) -> None:
    state, prefix = lab
    h1, h2, h3 = (f"{prefix}host{i}" for i in (1, 2, 3))
    # each host maps its own rack (and only it) to a device of its own
    agents = json.loads(openstack(state, "network", "agent", "list", "--long", "-f", "json"))
    assert {a["Host"] for a in agents} >= {h1, h2, h3}
    for host, dev in ((h1, "eth3"), (h2, "eth3")):
        assert "eth3" in ip("-n", f"{prefix}h{host[-1]}", "-o", "link", "show", dev)
    assert "eth3" not in ip("-n", f"{prefix}h3", "-o", "link", "show")

    openstack(state, "network", "create", "--provider-network-type", "flat",
              "--provider-physical-network", "rack1", "routed")  # fmt: skip
    openstack(state, "network", "segment", "create", "--network", "routed",
              "--network-type", "flat", "--physical-network", "rack2", "seg2")  # fmt: skip
    segments = json.loads(openstack(state, "network", "segment", "list", "--network", "routed",
                                    "--long", "-f", "json"))  # fmt: skip
    by_physnet = {s["Physical Network"]: s["ID"] for s in segments}
    assert set(by_physnet) == set(RACKS), segments
    for rack, (cidr, _) in RACKS.items():
        openstack(state, "subnet", "create", "--network", "routed", "--network-segment",
                  by_physnet[rack], "--subnet-range", cidr, f"{rack}-sub")  # fmt: skip
    net = json.loads(openstack(state, "network", "show", "routed", "-f", "json"))
    assert net["l2_adjacency"] is False, net
    provider_router(prefix)

    # a port made without a host has no address until bound, then its host's segment's
    openstack(state, "port", "create", "--network", "routed", "waiting")
    port = json.loads(openstack(state, "port", "show", "waiting", "-f", "json"))
    assert port["fixed_ips"] in ([], None, ""), port
    assert port["ip_allocation"] == "deferred", port
    openstack(state, "port", "set", "--host", h1, "waiting")
    port = json.loads(openstack(state, "port", "show", "waiting", "-f", "json"))
    assert [f["ip_address"].startswith("10.71.1.") for f in port["fixed_ips"]] == [True], port
    # host3 maps neither rack: no binding there
    denied = refused(state, "port", "create", "--network", "routed", "--host", h3, "nowhere")
    assert f"Host {h3} is not connected to any segment" in denied, denied
    assert "nowhere" not in openstack(state, "port", "list", "-f", "value", "-c", "Name")

    for name, host in (("vm1", h1), ("vm2", h2)):
        openstack(state, "server", "create", "--image", "busybox", "--flavor", "m1.tiny",
                  "--network", "routed", "--availability-zone", f"nova:{host}", name)  # fmt: skip
    addresses = {}
    for name, rack, peer in (("vm1", "rack1", "rack2"), ("vm2", "rack2", "rack1")):
        wait_status(state, name, "ACTIVE")
        cidr, gateway = RACKS[rack]
        stem = cidr.rsplit(".", 1)[0]

        def leased(name: str = name, stem: str = stem) -> bool:
            shown = run(state, name, "ip", "-4", "-o", "addr", "show", "dev", "eth0")
            return f"inet {stem}." in shown

        assert eventually(leased, timeout=30), run(state, name, "ip", "-4", "addr")
        shown = run(state, name, "ip", "-4", "-o", "addr", "show", "dev", "eth0")
        addresses[name] = shown.split("inet ")[1].split("/")[0]
        routes = run(state, name, "ip", "-4", "route")
        assert f"default via {gateway}" in routes, (name, routes)
        assert f"{RACKS[peer][0]} via {gateway}" in routes, (name, routes)  # the peer route

    # each host's rack device is a port of the network's bridge
    net_id = net["id"]
    for k in (1, 2):
        shown = ip("-n", f"{prefix}h{k}", "-o", "link", "show", "eth3")
        assert f"master {names.bridge_name(net_id)}" in shown, shown

    def reached() -> bool:
        done = subprocess.run(
            ["ip", "netns", "exec", names.instance_netns(h1, _port_of(state, "vm1")),
             "busybox", "ping", "-c", "1", "-W", "1", addresses["vm2"]],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        return "ttl=63" in done.stdout

    # through the provider's router: one hop, TTL decremented
    assert eventually(reached, timeout=15), addresses
    # never at L2: vm2 knows vm1 only through its gateway
    neighbours = run(state, "vm2", "ip", "neigh", "show")
    assert addresses["vm1"] not in neighbours, neighbours


def _port_of(state: Path, server: str) -> str:
    ports = json.loads(openstack(state, "port", "list", "--server", server, "-f", "json"))
    assert len(ports) == 1, ports
    return str(ports[0]["ID"])
