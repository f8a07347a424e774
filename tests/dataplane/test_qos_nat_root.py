"""Root tests of QoS where addresses are translated, on the real kernel:
the routing lab (three hosts, an external segment, an upstream namespace)
and a distributed router, set up once. A floating IP on the second host's
instance with a bandwidth policy (``qos-fip``), then the router's gateway
with one (``qos-gateway-ip``, SNAT on the gateway host), then the same
with distributed SNAT (the instance's host translating with its own port
block, the gateway host forwarding the return traffic): TCP between the
upstream and the instance (iperf3, one stream, the burst's first second
left out) runs within 10 % of each direction's limit; without the policy
it runs free."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from kumo.compiler import names as n
from tests.dataplane.rootlab import sh
from tests.dataplane.test_routing_root import FIP, UPSTREAM, ExternalLab, Routed

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]

EGRESS_KBPS = 12_000
INGRESS_KBPS = 6_000
FLOATING_IP = "203.0.113.50"


@pytest.fixture(scope="module")
def routed() -> Iterator[Routed]:
    lab = ExternalLab()
    r: Routed | None = None
    try:
        r = Routed(lab.start(3))
        r.apply()
        yield r
    finally:
        if r is not None:
            r.close()
        lab.close()


def _tcp_rate(r: Routed, client: list[str], server: list[str], ip: str, *extra: str) -> float:
    """Mbit/s received in a 4-second single-stream TCP run, the first second left out."""
    srv = subprocess.Popen([*server, "iperf3", "-s", "-1", "-p", "5303"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        for _ in range(50):
            if ":5303" in sh(*server, "ss", "-ltn").stdout:
                break
            time.sleep(0.1)
        out = sh(*client, "iperf3", "-c", ip, "-p", "5303", "-t", "4", "-O", "1", "-J",
                 *extra, timeout=40).stdout  # fmt: skip
    finally:
        srv.kill()
        srv.wait(timeout=5)
    report: dict[str, Any] = json.loads(out)
    return float(report["end"]["sum_received"]["bits_per_second"]) / 1e6


def test_floating_ip_rates_within_ten_percent_of_the_limits(routed: Routed) -> None:
    from tests.compiler import states as s

    r = routed
    r.fips[FIP] = {"id": FIP, "floating_ip_address": FLOATING_IP, "floating_network_id":
                   r.router["external_gateway_info"]["network_id"], "router_id": r.router["id"],
                   "port_id": s.P2, "fixed_ip_address": "10.0.2.12", "kumo_qos_rules": [
                       {"type": "bandwidth_limit", "direction": "egress",
                        "max_kbps": EGRESS_KBPS, "max_burst_kbps": 0},
                       {"type": "bandwidth_limit", "direction": "ingress",
                        "max_kbps": INGRESS_KBPS, "max_burst_kbps": 0}]}  # fmt: skip
    r.apply()
    instance = ["ip", "netns", "exec", n.instance_netns(r.b, s.P2)]
    upstream = ["ip", "netns", "exec", r.lab.upstream]
    assert r.upstream_ping(FLOATING_IP)
    sent = _tcp_rate(r, instance, upstream, UPSTREAM)
    assert abs(sent - EGRESS_KBPS / 1000) <= 0.1 * EGRESS_KBPS / 1000, sent
    received = _tcp_rate(r, upstream, instance, FLOATING_IP)
    assert abs(received - INGRESS_KBPS / 1000) <= 0.1 * INGRESS_KBPS / 1000, received
    # the policy gone, the floating IP runs at the path's own rate
    r.fips[FIP] = {**r.fips[FIP], "kumo_qos_rules": []}
    r.apply()
    free = _tcp_rate(r, upstream, instance, FLOATING_IP)
    assert free > 2 * EGRESS_KBPS / 1000, free


GATEWAY_EGRESS_KBPS = 10_000
GATEWAY_INGRESS_KBPS = 5_000


def test_gateway_rates_within_ten_percent_of_the_limits(routed: Routed) -> None:
    from tests.compiler import states as s

    r = routed
    r.fips.clear()
    r.router["kumo_gateway_qos_rules"] = [
        {"type": "bandwidth_limit", "direction": "egress", "max_kbps": GATEWAY_EGRESS_KBPS,
         "max_burst_kbps": 0},
        {"type": "bandwidth_limit", "direction": "ingress", "max_kbps": GATEWAY_INGRESS_KBPS,
         "max_burst_kbps": 0},
    ]  # fmt: skip
    r.apply()
    instance = ["ip", "netns", "exec", n.instance_netns(r.a, s.P1)]
    upstream = ["ip", "netns", "exec", r.lab.upstream]
    assert r.ping(s.P1, UPSTREAM)
    sent = _tcp_rate(r, instance, upstream, UPSTREAM)
    assert abs(sent - GATEWAY_EGRESS_KBPS / 1000) <= 0.1 * GATEWAY_EGRESS_KBPS / 1000, sent
    received = _tcp_rate(r, instance, upstream, UPSTREAM, "-R")
    assert abs(received - GATEWAY_INGRESS_KBPS / 1000) <= 0.1 * GATEWAY_INGRESS_KBPS / 1000, (
        received
    )
    del r.router["kumo_gateway_qos_rules"]
    r.apply()
    free = _tcp_rate(r, instance, upstream, UPSTREAM, "-R")
    assert free > 2 * GATEWAY_EGRESS_KBPS / 1000, free


BLOCK = (1024, 2047)


def _translated_ports(ns: str) -> set[int]:
    """The ports the upstream's iperf3 connections were translated to in
    ``ns`` (the reply direction's destination port)."""
    out = sh("ip", "netns", "exec", ns, "conntrack", "-L", "-p", "tcp", "--dport", "5303",
             check=False).stdout  # fmt: skip
    found = set()
    for line in out.splitlines():
        dports = [int(x.split("=")[1]) for x in line.split() if x.startswith("dport=")]
        if len(dports) == 2:
            found.add(dports[1])
    return found


def test_distributed_snat_hosts_limit_what_they_translate(routed: Routed) -> None:
    """The gateway's limits where the instance's host translates it with its
    own block: each such host limits its own share (the whole limit)."""
    from tests.compiler import states as s

    r = routed
    r.fips.clear()
    r.router.update({
        "kumo_distributed_snat": True,
        "kumo_gateway_hosts": [r.c],
        "kumo_snat_leases": [{"host": r.a, "external_ip": "203.0.113.10",
                              "port_range": f"{BLOCK[0]}:{BLOCK[1]}"}],
        "kumo_gateway_qos_rules": [
            {"type": "bandwidth_limit", "direction": "egress", "max_kbps": GATEWAY_EGRESS_KBPS,
             "max_burst_kbps": 0},
            {"type": "bandwidth_limit", "direction": "ingress", "max_kbps": GATEWAY_INGRESS_KBPS,
             "max_burst_kbps": 0},
        ],
    })  # fmt: skip
    try:
        r.apply()
        instance = ["ip", "netns", "exec", n.instance_netns(r.a, s.P1)]
        upstream = ["ip", "netns", "exec", r.lab.upstream]
        dvr = n.router_netns(r.a, r.router["id"])
        sh("ip", "netns", "exec", dvr, "conntrack", "-F", check=False)
        assert r.ping(s.P1, UPSTREAM)
        sent = _tcp_rate(r, instance, upstream, UPSTREAM)
        received = _tcp_rate(r, instance, upstream, UPSTREAM, "-R")
        # translated on the instance's host, from its block
        ports = _translated_ports(dvr)
        assert ports and all(BLOCK[0] <= p <= BLOCK[1] for p in ports), ports
        assert abs(sent - GATEWAY_EGRESS_KBPS / 1000) <= 0.1 * GATEWAY_EGRESS_KBPS / 1000, sent
        assert abs(received - GATEWAY_INGRESS_KBPS / 1000) <= 0.1 * GATEWAY_INGRESS_KBPS / 1000, (
            received
        )
        del r.router["kumo_gateway_qos_rules"]
        r.apply()
        free = _tcp_rate(r, instance, upstream, UPSTREAM, "-R")
        assert free > 2 * GATEWAY_EGRESS_KBPS / 1000, free
    finally:
        for key in ("kumo_distributed_snat", "kumo_gateway_hosts", "kumo_snat_leases",
                    "kumo_gateway_qos_rules"):  # fmt: skip
            r.router.pop(key, None)
        r.apply()
