"""Routed throughput with and without metering labels, on one real lab
(needs root).

    .venv/bin/python -m bench.metering [--rounds 4] [--seconds 5] [--labels 1,10]

One 2-host lab (``kumo up --hosts 2``, its own prefix, state directory and
port): a distributed router with a gateway on ``public``, a network and one
instance on host1 without a floating IP (host1 leases SNAT blocks, so its
router namespace translates and meters). Interleaved rounds of iperf3 TCP
from the instance to the upstream: without labels (no metering table at
all), then with each label count of ``--labels`` (each label: one excluded
and two counting egress rules, applying to the router; the last one
matches the upstream), the whole table (every label and rule) checked in place before measuring
and removed after.
Prints the medians, the ratio metered / unmetered (of the medians, and
the median of each round's ratio: rounds swing with the machine's load),
and how the label's
count compares with the bytes iperf3 reports received.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import time
import uuid
from pathlib import Path

from bench.common import machine
from bench.snat import KUMO, UPSTREAM, Lab, wait
from kumo.compiler import names
from tests.live import _free_port

RULES = (
    {"direction": "egress", "remote_ip_prefix": "198.51.100.0/24", "excluded": True},
    {"direction": "egress", "remote_ip_prefix": "192.0.2.0/24"},
    {"direction": "egress", "remote_ip_prefix": "203.0.113.0/24"},
)
"""One excluded and two counting rules (the last matches the upstream);
prefixes of one label's rules must not overlap."""


def table_rules(netns: str) -> int:
    """Rules of the namespace's metering table (-1: no table)."""
    done = subprocess.run(["ip", "netns", "exec", netns, "nft", "-j", "list", "table", "inet",
                           "kumo_meter"], capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        return -1
    return sum(1 for item in json.loads(done.stdout)["nftables"] if "rule" in item)


def iperf(ns: str, seconds: int) -> tuple[float, int]:
    """(Gbit/s received, bytes the instance sent) of one run."""
    out = subprocess.run(["ip", "netns", "exec", ns, "iperf3", "-c", UPSTREAM, "-t", str(seconds),
                          "-J"], capture_output=True, text=True, timeout=seconds + 60)  # fmt: skip
    data = json.loads(out.stdout)
    end = data["end"]
    return end["sum_received"]["bits_per_second"] / 1e9, int(end["sum_sent"]["bytes"])


def label_bytes(lab: Lab, label_id: str) -> int:
    found = lab.api.get(f"/metering/metering-labels/{label_id}/counts").json()["counts"]
    return int(found["bytes"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--labels", default="1,10")
    args = parser.parse_args()
    counts = [int(x) for x in args.labels.split(",")]
    prefix = f"kbm{uuid.uuid4().hex[:3]}-"
    state = Path(f"/tmp/{prefix}lab")
    print(f"# bench/metering.py {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; {machine()}; "
          f"load {os.getloadavg()}")  # fmt: skip
    up = [KUMO, "up", "--hosts", "2", "--port", str(_free_port()), "--prefix", prefix,
          "--state-dir", str(state), "--detach"]  # fmt: skip
    subprocess.run(up, check=True, capture_output=True, timeout=600)
    try:
        lab = Lab(state, prefix)
        public = lab.api.get("/networks", params={"name": "public"}).json()["networks"][0]
        net = lab.api.post("/networks", json={"network": {"name": "bm"}}).json()["network"]
        sub = lab.api.post("/subnets", json={"subnet": {
            "network_id": net["id"], "ip_version": 4, "cidr": "10.72.0.0/24"}}).json()["subnet"]  # fmt: skip
        router = lab.api.post("/routers", json={"router": {
            "name": "bm", "external_gateway_info": {"network_id": public["id"]}}}).json()["router"]  # fmt: skip
        lab.api.put(f"/routers/{router['id']}/add_router_interface", json={"subnet_id": sub["id"]})
        host1 = f"{prefix}host1"
        lab.kumo("lab", "instance", "create", "bm1", "--network", "bm", "--host", host1, "--ip",
                 "10.72.0.11", "--disable-port-security")  # fmt: skip
        ns = lab.instance_ns("10.72.0.11")
        router_ns = names.router_netns(host1, router["id"])
        cmd = ["ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "1", UPSTREAM]
        wait(lambda: subprocess.run(cmd, capture_output=True).returncode == 0)
        server = lab.upstream("iperf3", "-s")
        time.sleep(0.5)
        got: dict[int, list[float]] = {n: [] for n in [0, *counts]}
        accuracy: list[float] = []
        try:
            for _ in range(args.rounds):
                for n in got:
                    labels = []
                    for _i in range(n):
                        made = lab.api.post("/metering/metering-labels",
                                            json={"metering_label": {}}).json()["metering_label"]  # fmt: skip
                        labels.append(made["id"])
                        for rule in RULES:
                            r = lab.api.post("/metering/metering-label-rules", json={
                                "metering_label_rule": {"metering_label_id": made["id"], **rule}})  # fmt: skip
                            r.raise_for_status()
                    # every label and rule in place (the count chain's 2 rules, per
                    # label a jump and its rules): no rewrite during the run
                    want = 2 + n * (1 + len(RULES)) if n else -1
                    wait(lambda want=want: table_rules(router_ns) == want)
                    if n:
                        time.sleep(1)
                        before = label_bytes(lab, labels[0])
                    rate, sent = iperf(ns, args.seconds)
                    got[n].append(rate)
                    if n:
                        time.sleep(6)  # the agent reports every heartbeat (5 s)
                        accuracy.append((label_bytes(lab, labels[0]) - before) / sent)
                    for label in labels:
                        lab.api.delete(f"/metering/metering-labels/{label}")
        finally:
            server.kill()
        med = {n: statistics.median(v) for n, v in got.items()}
        print("labels,rules,median_gbit,runs_gbit,ratio_of_medians,median_ratio_per_round")
        for n, values in got.items():
            paired = statistics.median(v / u for v, u in zip(values, got[0], strict=True))
            print(f"{n},{n * len(RULES)},{med[n]:.2f},{' '.join(f'{v:.2f}' for v in values)},"
                  f"{med[n] / med[0]:.3f},{paired:.3f}")  # fmt: skip
        print(f"label bytes / iperf3 bytes sent (IP headers included): median "
              f"{statistics.median(accuracy):.4f}, min {min(accuracy):.4f}, "
              f"max {max(accuracy):.4f}")  # fmt: skip
    finally:
        subprocess.run([KUMO, "down", "--state-dir", str(state)], capture_output=True, timeout=300)


if __name__ == "__main__":
    main()
