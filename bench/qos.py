"""QoS-limited throughput next to the limit, on the data plane alone
(needs root).

    .venv/bin/python -m bench.qos [--seconds 4] [--limits 10000,50000,200000]
        [--pps 1,2,5] [--nat-limits 5000,20000]

Two hosts (namespaces) on an underlay, one instance each on a VXLAN
network, plans compiled from port bodies and applied through the real
kernel (``tests/dataplane/test_qos_root.py``'s pair). For each limit, in
the same run: the pair's own rate without a policy, then the sender's
egress limit and its ingress limit (traffic the other way), each as a
ratio to the limit; and the time the agent's pass takes to put the new
table in place. Then packet rate limits (``--pps``, thousands of packets
per second): a UDP flood of 64-byte datagrams offered at four times the
limit, received per second with no policy, through the egress limit and
through the ingress limit. Then, in the routing lab
(``tests/dataplane/test_qos_nat_root.py``), a floating IP's limits and a
router gateway's (``--nat-limits``), TCP between the upstream and the
instance, each as a ratio to the limit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

from bench.common import machine
from tests.compiler import states as s
from tests.dataplane.rootlab import RootLab
from tests.dataplane.test_qos_nat_root import FLOATING_IP, _tcp_rate
from tests.dataplane.test_qos_root import Pair
from tests.dataplane.test_routing_root import FIP, UPSTREAM, ExternalLab, Routed


def rules(kbps: int) -> list[dict[str, object]]:
    return [
        {"type": "bandwidth_limit", "direction": d, "max_kbps": kbps, "max_burst_kbps": 0}
        for d in ("egress", "ingress")
    ]


def pps_rules(kpps: int) -> list[dict[str, object]]:
    return [
        {"type": "packet_rate_limit", "direction": d, "max_kpps": kpps, "max_burst_kpps": 0}
        for d in ("egress", "ingress")
    ]


def packet_rates(pair: Pair, limits: list[int]) -> None:
    print("limit_kpps,offered_kpps,free_kpps,egress_kpps,egress/limit,ingress_kpps,ingress/limit")
    for kpps in limits:
        offered = 4 * kpps * 1000
        pair.ports[s.P1] = {**pair.ports[s.P1], "kumo_qos_rules": []}
        pair.apply()
        free = pair.udp_pps(s.P1, s.P2, "10.0.0.12", offered) / 1000
        pair.ports[s.P1] = {**pair.ports[s.P1], "kumo_qos_rules": pps_rules(kpps)}
        pair.apply()
        egress = pair.udp_pps(s.P1, s.P2, "10.0.0.12", offered) / 1000
        ingress = pair.udp_pps(s.P2, s.P1, "10.0.0.11", offered) / 1000
        print(f"{kpps},{offered / 1000:g},{free:.2f},{egress:.3f},{egress / kpps:.3f},"
              f"{ingress:.3f},{ingress / kpps:.3f}", flush=True)  # fmt: skip


def translated(limits: list[int]) -> None:
    """A floating IP's and a router gateway's limits, in the routing lab."""
    from kumo.compiler import names as n

    lab = ExternalLab()
    r: Routed | None = None
    try:
        r = Routed(lab.start(3))
        r.apply()
        up = ["ip", "netns", "exec", lab.upstream]
        fip_side = ["ip", "netns", "exec", n.instance_netns(r.b, s.P2)]
        snat_side = ["ip", "netns", "exec", n.instance_netns(r.a, s.P1)]
        print("where,limit_mbit,free_mbit,egress_mbit,egress/limit,ingress_mbit,ingress/limit")
        for kbps in limits:
            limit = kbps / 1000
            r.fips[FIP] = {"id": FIP, "floating_ip_address": FLOATING_IP,
                           "floating_network_id": r.router["external_gateway_info"]["network_id"],
                           "router_id": r.router["id"], "port_id": s.P2,
                           "fixed_ip_address": "10.0.2.12"}  # fmt: skip
            r.router.pop("kumo_gateway_qos_rules", None)
            r.apply()
            free = _tcp_rate(r, up, fip_side, FLOATING_IP)
            r.fips[FIP]["kumo_qos_rules"] = rules(kbps)
            r.apply()
            egress = _tcp_rate(r, fip_side, up, UPSTREAM)
            ingress = _tcp_rate(r, up, fip_side, FLOATING_IP)
            print(f"floating-ip,{limit:g},{free:.1f},{egress:.2f},{egress / limit:.3f},"
                  f"{ingress:.2f},{ingress / limit:.3f}", flush=True)  # fmt: skip
            r.fips.clear()
            r.apply()
            free = _tcp_rate(r, snat_side, up, UPSTREAM, "-R")
            r.router["kumo_gateway_qos_rules"] = rules(kbps)
            r.apply()
            egress = _tcp_rate(r, snat_side, up, UPSTREAM)
            ingress = _tcp_rate(r, snat_side, up, UPSTREAM, "-R")
            print(f"gateway,{limit:g},{free:.1f},{egress:.2f},{egress / limit:.3f},"
                  f"{ingress:.2f},{ingress / limit:.3f}", flush=True)  # fmt: skip
    finally:
        if r is not None:
            r.close()
        lab.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--limits", default="10000,50000,200000")
    ap.add_argument("--pps", default="1,2,5")
    ap.add_argument("--nat-limits", default="5000,20000")
    args = ap.parse_args()
    limits = [int(x) for x in args.limits.split(",")]
    lab = RootLab()
    pair: Pair | None = None
    try:
        pair = Pair(lab.start())
        pair.seconds = args.seconds
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M")
        print(f"# bench/qos.py {now} UTC, {machine()}, {args.seconds}s per run")
        print("limit_mbit,free_mbit,egress_mbit,egress/limit,ingress_mbit,ingress/limit,apply_ms")
        for kbps in limits:
            pair.ports[s.P1] = {**pair.ports[s.P1], "kumo_qos_rules": []}
            pair.apply()
            free = pair.tcp_rate(s.P1, s.P2, "10.0.0.12")
            pair.ports[s.P1] = {**pair.ports[s.P1], "kumo_qos_rules": rules(kbps)}
            started = time.perf_counter()
            pair.apply()
            apply_ms = (time.perf_counter() - started) * 1000
            egress = pair.tcp_rate(s.P1, s.P2, "10.0.0.12")
            ingress = pair.tcp_rate(s.P2, s.P1, "10.0.0.11")
            limit = kbps / 1000
            print(f"{limit:g},{free:.1f},{egress:.2f},{egress / limit:.3f},"
                  f"{ingress:.2f},{ingress / limit:.3f},{apply_ms:.0f}", flush=True)  # fmt: skip
        if args.pps:
            packet_rates(pair, [int(x) for x in args.pps.split(",")])
    finally:
        if pair is not None:
            pair.close()
        lab.close()
    if args.nat_limits:
        translated([int(x) for x in args.nat_limits.split(",")])


if __name__ == "__main__":
    main()
