"""Root tests on the real kernel: two hosts (namespaces) on an underlay
bridge, compiled plans applied through the netlink adapter.

Checks: the ping matrix (reach within a network across hosts, never across
networks that share a CIDR), ARP for a remote instance answered on the local
host (nothing on the underlay), IPv6 across hosts (ND answered locally), a
second apply and an agent restart changing nothing, leftovers removed and
foreign objects kept, and no kumo object left after teardown.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from kumo.compiler import ClusterView, HostPlan, compile_host
from kumo.compiler import names as n
from kumo.dataplane.driver import Dataplane
from tests.compiler import states as s
from tests.dataplane.rootlab import RootLab, sh

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]


@pytest.fixture
def lab() -> Iterator[RootLab]:
    lab = RootLab()
    try:
        yield lab.start()
    finally:
        lab.close()


def cluster(lab: RootLab, dual_stack: bool = False) -> tuple[ClusterView, dict[str, Any]]:
    """Two networks with the SAME CIDR; one instance per network on each host."""
    a, b = list(lab.hosts)
    subnets = [
        s.subnet("s1", s.NET1, "10.0.0.0/24", "10.0.0.1"),
        s.subnet("s2", s.NET2, "10.0.0.0/24", "10.0.0.1"),
    ]
    if dual_stack:
        subnets.append(s.subnet("s6", s.NET1, "2001:db8::/64", "2001:db8::1"))
    v6 = {s.P1: [("s6", "2001:db8::11")], s.P2: [("s6", "2001:db8::12")]} if dual_stack else {}
    layout = {
        s.P1: (s.NET1, "s1", "10.0.0.11", a),
        s.P2: (s.NET1, "s1", "10.0.0.12", b),
        s.P3: (s.NET2, "s2", "10.0.0.13", a),
        s.P4: (s.NET2, "s2", "10.0.0.14", b),
    }
    ports = [
        s.port(pid, net, f"fa:16:3e:00:00:0{i + 1}", host, [(sub, ip), *v6.get(pid, [])])
        for i, (pid, (net, sub, ip, host)) in enumerate(layout.items())
    ]
    view = ClusterView.from_bodies(
        [s.network(s.NET1, seg=101), s.network(s.NET2, seg=102)],
        subnets,
        ports,
        lab.agent_bodies(),
    )
    return view, layout


def apply_all(lab: RootLab, view: ClusterView) -> dict[str, Dataplane]:
    planes = {}
    for host, ns in lab.hosts.items():
        dp = Dataplane.for_host(host, ns)
        result = dp.apply(compile_host(host, view))
        assert result.ok, result.errors
        planes[host] = dp
    return planes


def in_instance(host: str, port_id: str, *cmd: str, timeout: float = 10) -> bool:
    ns = n.instance_netns(host, port_id)
    return sh("ip", "netns", "exec", ns, *cmd, check=False, timeout=timeout).returncode == 0


def ping(host: str, port_id: str, ip: str) -> bool:
    family = ["-6"] if ":" in ip else []
    return in_instance(host, port_id, "busybox", "ping", *family, "-c", "1", "-W", "1", ip)


class Capture:
    """tcpdump on a host's underlay interface (or ``ifname``); ``link_level``
    prints each frame's link-level header (MACs, 802.1Q tags)."""

    def __init__(self, ns: str, bpf: str, ifname: str = "eth0", link_level: bool = False) -> None:
        flags = ["-e"] if link_level else []
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, "tcpdump", "-i", ifname, "-n", "-p", "-l", *flags, bpf],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stderr is not None
        line = ""
        while "listening" not in line:  # tcpdump says so once it captures
            line = self.proc.stderr.readline()
            assert line, "tcpdump did not start"

    def stop(self) -> list[str]:
        time.sleep(0.3)
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=10)
        return [line for line in out.splitlines() if line.strip()]


def test_two_hosts_two_networks_same_cidr(lab: RootLab) -> None:
    view, layout = cluster(lab)
    planes = apply_all(lab, view)
    a, b = list(lab.hosts)
    for host, dp in planes.items():
        result = dp.apply(compile_host(host, view))
        assert result.ok and result.changes == 0
        assert result.wired_ports == {p for p, (*_, h) in layout.items() if h == host}

    # the host's ends of the pairs are bridge ports only: no IPv6 link-local
    # address of the host's on a tenant segment
    for ns in lab.hosts.values():
        taps = sh("ip", "-n", ns, "-6", "-o", "addr", "show").stdout
        assert not [line for line in taps.splitlines() if " kt" in line or " km" in line], taps
        modes = sh("ip", "-n", ns, "-d", "-o", "link", "show").stdout
        for line in modes.splitlines():
            if line.split(": ")[1].startswith("kt"):
                assert "addrgenmode none" in line, line

    # ping matrix: every instance to every other instance's address
    for src, (src_net, _, _, src_host) in layout.items():
        for dst, (dst_net, _, dst_ip, _) in layout.items():
            if src == dst:
                continue
            reached = ping(src_host, src, dst_ip)
            assert reached == (src_net == dst_net), (src, dst_ip, reached)

    # ARP for a remote instance is answered by the local VXLAN device: the
    # underlay carries neither ARP nor any VXLAN packet while it happens
    sh("ip", "netns", "exec", n.instance_netns(a, s.P1), "ip", "neigh", "flush", "all")
    capture = Capture(lab.hosts[a], "arp or udp port 4789")
    answered = in_instance(a, s.P1, "busybox", "arping", "-c", "2", "-w", "3", "-I", "eth0",
                           "10.0.0.12")  # fmt: skip
    assert answered
    assert capture.stop() == []
    # ... while a ping to it does cross (so the capture does see the tunnel)
    capture = Capture(lab.hosts[a], "udp port 4789")
    assert ping(a, s.P1, "10.0.0.12")
    assert len(capture.stop()) >= 2

    # an agent restart (fresh driver and adapter) changes nothing
    for host, ns in lab.hosts.items():
        restarted = Dataplane.for_host(host, ns)
        result = restarted.apply(compile_host(host, view))
        restarted.close()
        assert result.ok and result.changes == 0, result

    # teardown: nothing of kumo's is left
    for host, dp in planes.items():
        assert dp.apply(HostPlan(host=host)).ok
    assert lab.instance_netns_left() == []
    for ns in lab.hosts.values():
        assert lab.kumo_links(ns) == []
    assert ping(b, s.P2, "10.0.0.11") is False


def test_ipv6_across_hosts_with_local_neighbour_discovery(lab: RootLab) -> None:
    view, _ = cluster(lab, dual_stack=True)
    apply_all(lab, view)
    a, b = list(lab.hosts)
    assert ping(a, s.P1, "2001:db8::12")
    assert ping(b, s.P2, "2001:db8::11")
    routes = sh("ip", "-n", n.instance_netns(a, s.P1), "-6", "route", "show", "default").stdout
    assert "via 2001:db8::1 dev eth0 proto 74" in routes


def test_leftovers_go_and_foreign_objects_stay(lab: RootLab) -> None:
    a = next(iter(lab.hosts))
    ns = lab.hosts[a]
    stale_ns = n.instance_netns(a, "stale-port")
    stale_bridge = n.bridge_name("stale-network")
    sh("ip", "netns", "add", stale_ns)
    sh("ip", "-n", ns, "link", "add", stale_bridge, "type", "bridge")
    sh("ip", "-n", ns, "link", "add", "kforeign", "type", "bridge")
    sh("ip", "-n", ns, "route", "add", "10.77.0.0/16", "dev", "eth0", "proto", "74")
    sh("ip", "-n", ns, "route", "add", "10.78.0.0/16", "dev", "eth0")
    view, _ = cluster(lab)
    dp = Dataplane.for_host(a, ns)
    assert dp.apply(compile_host(a, view)).ok
    links = sh("ip", "-n", ns, "-o", "link", "show").stdout
    assert stale_bridge not in links and "kforeign" in links
    assert stale_ns not in lab.instance_netns_left()
    routes = sh("ip", "-n", ns, "route", "show").stdout
    assert "10.77.0.0/16" not in routes and "10.78.0.0/16" in routes
    assert dp.apply(HostPlan(host=a)).ok
    assert lab.kumo_links(ns) == []
    assert "eth0" in sh("ip", "-n", ns, "-o", "link", "show").stdout


def test_instance_end_deleted_behind_the_agents_back_is_rebuilt(lab: RootLab) -> None:
    a = next(iter(lab.hosts))
    view, _ = cluster(lab)
    dp = Dataplane.for_host(a, lab.hosts[a])
    plan = compile_host(a, view)
    assert dp.apply(plan).ok
    sh("ip", "-n", n.instance_netns(a, s.P1), "link", "del", "eth0")
    dp.resync()
    result = dp.apply(plan)
    assert result.ok and s.P1 in result.wired_ports
    out = sh("ip", "-n", n.instance_netns(a, s.P1), "addr", "show", "eth0").stdout
    assert "fa:16:3e:00:00:01" in out and "10.0.0.11/24" in out
