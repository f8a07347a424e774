"""A routed provider network on the real kernel: two hosts on two segments.

Host A maps physical network ``rack1``, host B ``rack2``; one network has a
flat segment on each, with a subnet per segment. Each host wires the port
bound to it onto its own segment, its DHCP responder hands the instance an
address of that segment's subnet with the peer subnet's host route, and the
two instances reach each other through the provider's router (a namespace
joined to both racks, holding both subnets' gateways), never over one L2.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator

import pytest

from kumo.compiler import ClusterView, HostPlan, compile_host
from kumo.compiler import names as n
from kumo.dataplane.driver import Dataplane
from kumo.dhcp.responder import Responder
from tests.compiler import states as s
from tests.dataplane.rootlab import RootLab, sh

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(shutil.which("busybox") is None, reason="needs busybox"),
]

RACKS = ("rack1", "rack2")
SEGMENTS = [
    {"provider:network_type": "flat", "provider:physical_network": rack,
     "provider:segmentation_id": None}
    for rack in RACKS
]  # fmt: skip
# what the API computes for the two subnets (segments-peer-subnet-host-routes)
SUBNETS = [
    s.subnet("s1", s.NET1, "10.70.1.0/24", "10.70.1.1", enable_dhcp=True, segment_id="g1",
             host_routes=[{"destination": "10.70.2.0/24", "nexthop": "10.70.1.1"}]),
    s.subnet("s2", s.NET1, "10.70.2.0/24", "10.70.2.1", enable_dhcp=True, segment_id="g2",
             host_routes=[{"destination": "10.70.1.0/24", "nexthop": "10.70.2.1"}]),
]  # fmt: skip


class RoutedCluster:
    def __init__(self, lab: RootLab) -> None:
        self.lab = lab
        self.a, self.b = list(lab.hosts)
        # the provider's router: one leg on each rack, a gateway per subnet
        self.router = f"kp{lab.tag}"
        sh("ip", "netns", "add", self.router)
        lab.created.append(self.router)
        for i, ns in enumerate(lab.hosts.values()):
            sh("ip", "-n", self.router, "link", "add", f"r{i}", "type", "veth",
               "peer", "name", "eth1", "netns", ns)  # fmt: skip
            sh("ip", "-n", ns, "link", "set", "eth1", "up")
            sh("ip", "-n", self.router, "addr", "add", f"10.70.{i + 1}.1/24", "dev", f"r{i}")
            sh("ip", "-n", self.router, "link", "set", f"r{i}", "up")
        sh("ip", "netns", "exec", self.router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        self.ports = [
            s.port(s.P1, s.NET1, "fa:16:3e:00:00:01", self.a, [("s1", "10.70.1.5")]),
            s.port(s.P2, s.NET1, "fa:16:3e:00:00:02", self.b, [("s2", "10.70.2.5")]),
        ]
        self.planes = {h: Dataplane.for_host(h, ns) for h, ns in lab.hosts.items()}
        self.responders = {h: Responder(ns) for h, ns in lab.hosts.items()}
        for r in self.responders.values():
            r.start()

    def apply(self) -> None:
        net = s.network(s.NET1, kind="flat", seg=None, mtu=1500, kumo_segments=SEGMENTS)
        net["provider:physical_network"] = RACKS[0]
        agents = self.lab.agent_bodies()
        for body, rack in zip(agents, RACKS, strict=True):
            body["configurations"] = {  # type: ignore[index]
                **body["configurations"],  # type: ignore[dict-item]
                "bridge_mappings": {rack: "eth1"},
            }
        view = ClusterView.from_bodies([net], SUBNETS, self.ports, agents)
        for host, dp in self.planes.items():
            plan = compile_host(host, view)
            self.responders[host].update(plan.dhcp, plan.adverts, plan.dhcp6)
            result = dp.converge(plan, timeout=10)
            assert result.ok, result.errors

    def run(self, host: str, port_id: str, *cmd: str) -> str:
        return sh("ip", "netns", "exec", n.instance_netns(host, port_id), *cmd, check=False).stdout

    def wait_address(self, host: str, port_id: str, ip: str, timeout: float = 20) -> None:
        started = time.monotonic()
        while f"inet {ip}/" not in self.run(host, port_id, "ip", "-4", "addr", "show", "eth0"):
            assert time.monotonic() - started < timeout, f"{port_id} got no lease"
            time.sleep(0.1)

    def close(self) -> None:
        for r in self.responders.values():
            r.stop()
        for host, dp in self.planes.items():
            dp.apply(HostPlan(host=host))
            dp.close()


@pytest.fixture
def cluster() -> Iterator[RoutedCluster]:
    lab = RootLab()
    c: RoutedCluster | None = None
    try:
        c = RoutedCluster(lab.start())
        yield c
    finally:
        if c is not None:
            c.close()
        lab.close()


def test_hosts_on_two_segments_reach_each_other_through_the_providers_router(
    cluster: RoutedCluster,
) -> None:
    c = cluster
    c.apply()
    c.wait_address(c.a, s.P1, "10.70.1.5")
    c.wait_address(c.b, s.P2, "10.70.2.5")
    routes = c.run(c.a, s.P1, "ip", "-4", "route")
    assert "default via 10.70.1.1" in routes
    assert "10.70.2.0/24 via 10.70.1.1" in routes  # the peer subnet's route
    assert "10.70.1.0/24 via 10.70.2.1" in c.run(c.b, s.P2, "ip", "-4", "route")
    # each host's physical interface is a port of the network's bridge: its own rack
    bridge = n.bridge_name(s.NET1)
    for host in (c.a, c.b):
        shown = sh("ip", "-n", c.lab.hosts[host], "-o", "link", "show", "eth1").stdout
        assert f"master {bridge}" in shown
    out = c.run(c.a, s.P1, "busybox", "ping", "-c", "2", "-W", "2", "10.70.2.5")
    assert "0% packet loss" in out, out
    # the reply came back through the router: one hop away, TTL decremented
    assert "ttl=63" in out, out
    # nothing crosses at L2: instance B answered through its gateway, never A directly
    neighbours = c.run(c.b, s.P2, "ip", "neigh", "show")
    assert "10.70.2.1" in neighbours and "10.70.1.5" not in neighbours
