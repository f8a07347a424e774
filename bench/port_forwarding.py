"""Port forwarding's first packet next to a plain floating IP's, on one
real lab (needs root).

    .venv/bin/python -m bench.port_forwarding [--rounds 5] [--connects 200]

One 3-host lab (``kumo up``) with one distributed router and three
instances, each listening on TCP 8080: ``fip`` (host1) has a floating IP
of its own; ``local`` (host1) is reached through floating IP B's TCP 80
(host1 answers ARP for B and translates it); ``relayed`` (host2) through
B's TCP 81 (host1 relays the frames to host2, which translates them).

Measured from the upstream namespace, in the same run: the time of a TCP
connect (SYN out, SYN-ACK back; every connection new, so every SYN is the
first packet of its connection and sets up its translation), interleaved
across the three targets in every round; the median per target and round,
the median of the rounds, and the ratios to the plain floating IP.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from bench.common import machine
from bench.snat import KUMO, Lab, wait
from tests.live import _free_port

SERVE = """
import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080))
s.listen(512)
while True:
    c, _ = s.accept()
    c.close()
"""
CONNECT = """
import json, socket, struct, sys, time
targets = json.loads(sys.argv[1])
n = int(sys.argv[2])
times = {name: [] for name in targets}
linger = struct.pack("ii", 1, 0)  # close with RST: no TIME_WAIT piles up
for _ in range(n):
    for name, (ip, port) in targets.items():
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        s.settimeout(2)
        t0 = time.perf_counter()
        s.connect((ip, port))
        times[name].append(time.perf_counter() - t0)
        s.close()
print(json.dumps(times))
"""


def build(lab: Lab) -> dict[str, tuple[str, int]]:
    """The lab's router, instances and floating IPs: target → (address, port)."""
    h1, h2 = f"{lab.prefix}host1", f"{lab.prefix}host2"
    lab.openstack("network", "create", "pfn")
    lab.openstack("subnet", "create", "--network", "pfn", "--subnet-range", "10.91.1.0/24", "pfs")
    lab.openstack("router", "create", "pfr")
    lab.openstack("router", "set", "--external-gateway", "public", "pfr")
    lab.openstack("router", "add", "subnet", "pfr", "pfs")
    layout = {"fip": (h1, "10.91.1.11"), "local": (h1, "10.91.1.12"),
              "relayed": (h2, "10.91.1.13")}  # fmt: skip
    for name, (host, ip) in layout.items():
        lab.kumo("lab", "instance", "create", name, "--network", "pfn", "--host", host,
                 "--ip", ip, "--disable-port-security")  # fmt: skip
        subprocess.Popen([KUMO, "exec", name, "--state-dir", str(lab.state), "--",
                          sys.executable, "-c", SERVE],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip

    def new_fip() -> str:
        return lab.openstack("floating", "ip", "create", "public", "-f", "value",
                             "-c", "floating_ip_address").strip()  # fmt: skip

    plain, shared = new_fip(), new_fip()
    lab.openstack("floating", "ip", "set", "--port", "fip", plain)
    for name, outside in (("local", "80"), ("relayed", "81")):
        lab.openstack("floating", "ip", "port", "forwarding", "create", "--port", name,
                      "--internal-ip-address", layout[name][1], "--internal-protocol-port",
                      "8080", "--external-protocol-port", outside, "--protocol", "tcp",
                      shared)  # fmt: skip
    return {"fip": (plain, 8080), "local": (shared, 80), "relayed": (shared, 81)}


def connects(lab: Lab, targets: dict[str, tuple[str, int]], n: int) -> dict[str, list[float]]:
    proc = lab.upstream(sys.executable, "-c", CONNECT, json.dumps(targets), str(n))
    out, err = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(err.strip())
    return dict(json.loads(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connects", type=int, default=200)
    args = parser.parse_args()
    prefix = f"kbp{uuid.uuid4().hex[:3]}-"
    state = Path(f"/tmp/{prefix}lab")
    print(f"{machine()}; {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; load {os.getloadavg()}")
    up = [KUMO, "up", "--hosts", "3", "--port", str(_free_port()), "--prefix", prefix,
          "--state-dir", str(state), "--detach"]  # fmt: skip
    for _ in range(3):  # a loaded machine's API may not answer within kumo up's wait
        done = subprocess.run(up, capture_output=True, text=True, timeout=600)
        if done.returncode == 0:
            break
        print(f"kumo up failed ({done.stderr.strip().splitlines()[-1:]}); again", flush=True)
        up[up.index("--port") + 1] = str(_free_port())
    else:
        raise SystemExit("kumo up failed three times")
    try:
        lab = Lab(state, prefix)
        targets = build(lab)
        ready = wait(lambda: _all_answer(lab, targets), timeout=120)
        print(f"all three answer {ready:.1f} s after the last forwarding was made", flush=True)
        rounds: dict[str, list[float]] = {name: [] for name in targets}
        for r in range(args.rounds):
            got = connects(lab, targets, args.connects)
            line = []
            for name, times in got.items():
                median = statistics.median(times) * 1e6
                rounds[name].append(median)
                line.append(f"{name} {median:.0f} us")
            print(f"round {r + 1}: " + ", ".join(line), flush=True)
        result = {name: statistics.median(v) for name, v in rounds.items()}
        print("| path | connect (SYN to SYN-ACK), median of round medians | ratio to plain FIP |")
        print("|---|---|---|")
        for name, label in (("fip", "plain floating IP (host1)"),
                            ("local", "port forwarding, served by the answering host (host1)"),
                            ("relayed", "port forwarding, relayed to host2")):  # fmt: skip
            print(f"| {label} | {result[name]:.0f} us | {result[name] / result['fip']:.2f} |")
    finally:
        subprocess.run([KUMO, "down", "--state-dir", str(state)], capture_output=True, timeout=300)


def _all_answer(lab: Lab, targets: dict[str, tuple[str, int]]) -> bool:
    try:
        connects(lab, targets, 1)
    except RuntimeError:
        time.sleep(0.5)
        return False
    return True


if __name__ == "__main__":
    main()
