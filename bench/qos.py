"""QoS-limited TCP throughput next to the limit, on the data plane alone
(needs root).

    .venv/bin/python -m bench.qos [--seconds 4] [--limits 10000,50000,200000]

Two hosts (namespaces) on an underlay, one instance each on a VXLAN
network, plans compiled from port bodies and applied through the real
kernel (``tests/dataplane/test_qos_root.py``'s pair). For each limit, in
the same run: the pair's own rate without a policy, then the sender's
egress limit and its ingress limit (traffic the other way), each as a
ratio to the limit; and the time the agent's pass takes to put the new
table in place.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

from bench.common import machine
from tests.compiler import states as s
from tests.dataplane.rootlab import RootLab
from tests.dataplane.test_qos_root import Pair


def rules(kbps: int) -> list[dict[str, object]]:
    return [
        {"type": "bandwidth_limit", "direction": d, "max_kbps": kbps, "max_burst_kbps": 0}
        for d in ("egress", "ingress")
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--limits", default="10000,50000,200000")
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
    finally:
        if pair is not None:
            pair.close()
        lab.close()


if __name__ == "__main__":
    main()
