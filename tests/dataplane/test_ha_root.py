"""Root tests of highly available gateways on the real kernel.

Three hosts (a: compute; b, c: the router's gateway hosts, b preferred) on
an underlay and an external segment with an upstream (203.0.113.1); each
host runs real liveness beats and applies its own plans. An instance on a
without a floating IP reaches the upstream through the router's SNAT while
the active gateway is killed (no last beat, no cleanup), its underlay link
is cut and restored, and it is stopped gracefully: traffic continues, one
host at a time answers ARP for the router's external IP, a returning host
stays standby.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest

from kumo.compiler import ClusterView
from kumo.ha.liveness import LivenessSettings
from kumo.ha.seal import ClusterKey
from tests.compiler import states as s
from tests.dataplane.ha_nodes import HaNode, Probe, arp_responders, echo_server, wait_for
from tests.dataplane.rootlab import sh
from tests.dataplane.test_routing_root import EXT, GW, UPSTREAM, ExternalLab, rport

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]

R = "e0000000-0000-4000-8000-0000000000e1"
I1 = "e1000000-0000-4000-8000-000000000001"
C1 = "ec100000-0000-4000-8000-000000000001"
A, D = s.P1, s.P3
EXTERNAL_IP = "203.0.113.10"
FAST = LivenessSettings(interval=0.05, hold=0.25, lease=0.2, port=4791)


class HaSetup:
    def __init__(self, lab: ExternalLab) -> None:
        self.lab = lab
        self.a, self.b, self.c = list(lab.hosts)
        self.router: dict[str, Any] = {
            "id": R, "admin_state_up": True, "distributed": True, "ha": True,
            "kumo_gateway_hosts": [self.b, self.c],
            "external_gateway_info": {
                "network_id": EXT, "enable_snat": True,
                "external_fixed_ips": [{"subnet_id": "sx", "ip_address": EXTERNAL_IP}],
            },
            "routes": [],
        }  # fmt: skip
        dvr, snat = "network:router_interface_distributed", "network:router_centralized_snat"
        self.ports = {
            A: s.port(A, s.NET1, "fa:16:3e:00:00:0a", self.a, [("s1", "10.0.1.11")]),
            D: s.port(D, s.NET1, "fa:16:3e:00:00:0d", self.b, [("s1", "10.0.1.13")]),
            I1: rport(I1, s.NET1, "fa:16:3e:00:01:01", ("s1", "10.0.1.1"), dvr),
            C1: rport(C1, s.NET1, "fa:16:3e:00:01:02", ("s1", "10.0.1.2"), snat, self.b),
            GW: rport(GW, EXT, "fa:16:3e:00:09:09", ("sx", EXTERNAL_IP),
                      "network:router_gateway", self.b),
        }  # fmt: skip
        for p in (C1, GW):
            self.ports[p]["device_id"] = R
        self.nodes: dict[str, HaNode] = {}
        self.key = ClusterKey(secrets.token_bytes(32))

    def view(self) -> ClusterView:
        return ClusterView.from_bodies(
            [s.network(s.NET1, seg=101),
             s.network(EXT, kind="flat", seg=None, **{"provider:physical_network": "external"})],
            [s.subnet("s1", s.NET1, "10.0.1.0/24", "10.0.1.1"),
             s.subnet("sx", EXT, "203.0.113.0/24", UPSTREAM)],
            self.ports.values(), self.lab.agent_bodies(), (),
            [{**self.router, "kumo_ports": s.router_ports(R, self.ports.values())}], (),
        )  # fmt: skip

    def start(self, host: str) -> HaNode:
        node = HaNode(self.lab, host, self.view, FAST, self.key)
        self.nodes[host] = node.start()
        return node

    def active(self, *skip: str) -> set[str | None]:
        """What every running node (but ``skip``) thinks is the router's active gateway."""
        return {
            n.live.active().get(R)
            for h, n in self.nodes.items()
            if not n.stopped.is_set() and h not in skip
        }

    def instance(self, port_id: str) -> str:
        from kumo.compiler import names

        return names.instance_netns(str(self.ports[port_id]["binding:host_id"]), port_id)

    def close(self) -> None:
        for node in self.nodes.values():
            node.close()


@pytest.fixture
def ha() -> Iterator[HaSetup]:
    lab = ExternalLab()
    setup: HaSetup | None = None
    try:
        lab.start(3)
        setup = HaSetup(lab)
        yield setup
    finally:
        if setup is not None:
            setup.close()
        lab.close()


def _failover(
    ha: HaSetup, action: Any, to: str, skip: tuple[str, ...] = ()
) -> tuple[float, dict[str, Any]]:
    """Run a UDP probe from the instance on a while ``action`` happens;
    (the largest gap between replies, the probe's result)."""
    probe = Probe(ha.instance(A), UPSTREAM, "udp", seconds=4.0)
    stream = Probe(ha.instance(A), UPSTREAM, "tcp", seconds=4.0)
    time.sleep(1.5)
    at = time.monotonic()
    action()
    wait_for(lambda: ha.active(*skip) == {to}, timeout=5)
    result, tcp = probe.result(), stream.result()
    replies = [t for t in result["replies"] if t >= at - 0.5]
    assert replies and replies[-1] > at + 1.0, "traffic did not continue after the failover"
    # The established TCP connection continued (its conntrack entry was synced).
    assert tcp["error"] is None, tcp["error"]
    assert tcp["replies"] and tcp["replies"][-1] > at + 1.0, "the TCP stream stalled"
    times = [at - 0.5, *replies]
    return max(b - a for a, b in zip(times, times[1:], strict=False)), result


def test_gateway_failover(ha: HaSetup) -> None:
    lab = ha.lab
    for host in (ha.a, ha.b, ha.c):
        ha.start(host)
    wait_for(lambda: ha.active() == {ha.b}, timeout=5)
    server = echo_server(lab.upstream)
    try:
        ns_a = ha.instance(A)
        wait_for(lambda: sh("ip", "netns", "exec", ns_a, "busybox", "ping", "-c", "1", "-W", "1",
                            UPSTREAM, check=False).returncode == 0, timeout=10)  # fmt: skip
        assert arp_responders(lab.upstream, EXTERNAL_IP) == 3

        # 1. The active gateway's agent dies: the kernel closes its gates, c takes over.
        gap, _ = _failover(ha, ha.nodes[ha.b].kill, to=ha.c)
        assert gap < 2.0, f"outage {gap:.2f}s on agent kill"
        time.sleep(FAST.lease)
        assert arp_responders(lab.upstream, EXTERNAL_IP) == 3

        # 2. b comes back: it stays standby (no preemption).
        ha.start(ha.b)
        time.sleep(4 * FAST.hold)
        assert ha.active() == {ha.c}
        assert arp_responders(lab.upstream, EXTERNAL_IP) == 3

        # 3. The active gateway's underlay link is cut: it loses quorum and
        #    releases, b takes over; then the link comes back: c stays standby.
        link = f"u{list(lab.hosts).index(ha.c)}"

        def cut() -> None:
            sh("ip", "-n", lab.underlay, "link", "set", link, "down")

        gap, _ = _failover(ha, cut, to=ha.b, skip=(ha.c,))
        assert gap < 2.0, f"outage {gap:.2f}s on link cut"
        assert ha.nodes[ha.c].live.active().get(R) is None  # c, alone, decides nothing
        assert arp_responders(lab.upstream, EXTERNAL_IP) == 3
        sh("ip", "-n", lab.underlay, "link", "set", link, "up")
        wait_for(lambda: ha.nodes[ha.c].live.active().get(R) == ha.b, timeout=5)
        assert ha.active() == {ha.b}

        # 4. b is stopped gracefully: c takes over at once.
        gap, _ = _failover(ha, ha.nodes[ha.b].stop, to=ha.c)
        assert gap < 2.0, f"outage {gap:.2f}s on graceful stop"
        assert arp_responders(lab.upstream, EXTERNAL_IP) == 3
        for node in ha.nodes.values():
            assert not node.errors, node.errors
    finally:
        server.kill()
        server.wait(timeout=10)
