"""Root test of QoS on the real kernel: two hosts (namespaces) on an
underlay, one instance per host on a VXLAN network; the first instance's
port has a policy. TCP through its limits (iperf3, one stream, the burst's
first second left out) runs within 10 % of each limit, and the packets it
sends arrive with its DSCP mark. Then the port's policy limits packet
rates: a UDP flood of small datagrams at four times each limit arrives at
the limit, within 10 %."""

from __future__ import annotations

import json
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

EGRESS_KBPS = 20_000
INGRESS_KBPS = 8_000
DSCP_MARK = 26
RULES = [
    {"type": "bandwidth_limit", "direction": "egress", "max_kbps": EGRESS_KBPS, "max_burst_kbps": 0},
    {"type": "bandwidth_limit", "direction": "ingress", "max_kbps": INGRESS_KBPS,
     "max_burst_kbps": 0},
    {"type": "dscp_marking", "dscp_mark": DSCP_MARK},
]  # fmt: skip


class Pair:
    def __init__(self, lab: RootLab) -> None:
        self.lab = lab
        self.a, self.b = list(lab.hosts)
        self.ports = {
            s.P1: s.port(s.P1, s.NET1, "fa:16:3e:00:00:01", self.a, [("s1", "10.0.0.11")],
                         kumo_qos_rules=RULES),
            s.P2: s.port(s.P2, s.NET1, "fa:16:3e:00:00:02", self.b, [("s1", "10.0.0.12")]),
        }  # fmt: skip
        self.planes: dict[str, Dataplane] = {}
        self.seconds = 4

    def apply(self) -> None:
        view = ClusterView.from_bodies(
            [s.network(s.NET1, seg=101)],
            [s.subnet("s1", s.NET1, "10.0.0.0/24", "10.0.0.1")],
            self.ports.values(),
            self.lab.agent_bodies(),
            [],
        )
        for host, ns in self.lab.hosts.items():
            dp = self.planes.get(host) or Dataplane.for_host(host, ns)
            self.planes[host] = dp
            result = dp.apply(compile_host(host, view))
            assert result.ok, result.errors

    def netns(self, port_id: str) -> str:
        return n.instance_netns(str(self.ports[port_id]["binding:host_id"]), port_id)

    def tcp_rate(self, client: str, server: str, ip: str) -> float:
        """Mbit/s received in a single-stream TCP run of ``seconds``, the first left out."""
        srv = subprocess.Popen(
            ["ip", "netns", "exec", self.netns(server), "iperf3", "-s", "-1", "-p", "5301"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(50):
                listening = sh("ip", "netns", "exec", self.netns(server), "ss", "-ltn").stdout
                if ":5301" in listening:
                    break
                time.sleep(0.1)
            out = sh("ip", "netns", "exec", self.netns(client), "iperf3", "-c", ip, "-p", "5301",
                     "-t", str(self.seconds), "-O", "1", "-J", timeout=30 + self.seconds).stdout  # fmt: skip
        finally:
            srv.kill()
            srv.wait(timeout=5)
        report: dict[str, Any] = json.loads(out)
        return float(report["end"]["sum_received"]["bits_per_second"]) / 1e6

    def udp_pps(self, client: str, server: str, ip: str, offered: int) -> float:
        """Datagrams per second received when ``client`` sends ``offered`` per
        second (64-byte payloads) for ``seconds``."""
        srv = subprocess.Popen(
            ["ip", "netns", "exec", self.netns(server), "iperf3", "-s", "-1", "-p", "5302"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(50):
                listening = sh("ip", "netns", "exec", self.netns(server), "ss", "-ltn").stdout
                if ":5302" in listening:
                    break
                time.sleep(0.1)
            out = sh("ip", "netns", "exec", self.netns(client), "iperf3", "-c", ip, "-p", "5302",
                     "-u", "-l", "64", "-b", str(offered * 64 * 8), "-t", str(self.seconds),
                     "-J", timeout=30 + self.seconds).stdout  # fmt: skip
        finally:
            srv.kill()
            srv.wait(timeout=5)
        end: dict[str, Any] = json.loads(out)["end"]["sum"]
        received = int(end["packets"]) - int(end["lost_packets"])
        return received / float(end["seconds"])

    def close(self) -> None:
        for host, dp in self.planes.items():
            dp.apply(HostPlan(host=host))
            dp.close()


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    lab = RootLab()
    p: Pair | None = None
    try:
        p = Pair(lab.start())
        p.apply()
        yield p
    finally:
        if p is not None:
            p.close()
        lab.close()


def test_rates_within_ten_percent_of_the_limits_and_the_mark_on_the_wire(pair: Pair) -> None:
    sent = pair.tcp_rate(s.P1, s.P2, "10.0.0.12")
    assert abs(sent - EGRESS_KBPS / 1000) <= 0.1 * EGRESS_KBPS / 1000, sent
    received = pair.tcp_rate(s.P2, s.P1, "10.0.0.11")
    assert abs(received - INGRESS_KBPS / 1000) <= 0.1 * INGRESS_KBPS / 1000, received
    # the mark, as the receiving instance sees the packets (tos = dscp << 2)
    dump = subprocess.Popen(
        ["ip", "netns", "exec", pair.netns(s.P2), "tcpdump", "-l", "-n", "-v", "-c", "2", "-i",
         "eth0", "icmp and src 10.0.0.11"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        time.sleep(0.5)
        sh("ip", "netns", "exec", pair.netns(s.P1), "busybox", "ping", "-c", "2", "-W", "1",
           "10.0.0.12")  # fmt: skip
        out, _ = dump.communicate(timeout=5)
    finally:
        dump.kill()
    assert out.count(f"tos {hex(DSCP_MARK << 2)}") == 2, out
    # no policy: the table goes, and the rate is the path's own again
    pair.ports[s.P1] = {**pair.ports[s.P1], "kumo_qos_rules": []}
    pair.apply()
    assert "kumo_qos" not in sh("ip", "netns", "exec", pair.lab.hosts[pair.a], "nft", "list",
                                "tables").stdout  # fmt: skip
    free = pair.tcp_rate(s.P1, s.P2, "10.0.0.12")
    assert free > 2 * EGRESS_KBPS / 1000, free


EGRESS_KPPS = 2
INGRESS_KPPS = 3


def test_packet_rates_within_ten_percent_of_the_limits(pair: Pair) -> None:
    pair.ports[s.P1] = {**pair.ports[s.P1], "kumo_qos_rules": [
        {"type": "packet_rate_limit", "direction": "egress", "max_kpps": EGRESS_KPPS,
         "max_burst_kpps": 0},
        {"type": "packet_rate_limit", "direction": "ingress", "max_kpps": INGRESS_KPPS,
         "max_burst_kpps": 0},
    ]}  # fmt: skip
    pair.apply()
    sent = pair.udp_pps(s.P1, s.P2, "10.0.0.12", 4 * EGRESS_KPPS * 1000)
    assert abs(sent - EGRESS_KPPS * 1000) <= 0.1 * EGRESS_KPPS * 1000, sent
    received = pair.udp_pps(s.P2, s.P1, "10.0.0.11", 4 * INGRESS_KPPS * 1000)
    assert abs(received - INGRESS_KPPS * 1000) <= 0.1 * INGRESS_KPPS * 1000, received
    # without the rules, the same flood arrives whole
    pair.ports[s.P1] = {**pair.ports[s.P1], "kumo_qos_rules": []}
    pair.apply()
    free = pair.udp_pps(s.P1, s.P2, "10.0.0.12", 4 * EGRESS_KPPS * 1000)
    assert free > 2 * EGRESS_KPPS * 1000, free
