"""Gateway failover of HA routers, measured on a real lab (needs root).

    bash bench/failover.sh [--trials 10] [--soak 300] [--quick]

Each configuration gets its own 3-host lab (``kumo up --gateways 2
--l3-ha``: host2 and host3 are the gateway hosts) with one HA router, an
instance on host1 without a floating IP, and an echo server on the
upstream (203.0.113.1). A trial runs a UDP probe (one datagram every
10 ms) and a TCP stream (one 8-byte echo every 10 ms on one connection)
from the instance, then takes the active gateway host down one way:

- ``graceful``: SIGTERM to its agent (a leaving beat, the gates closed);
- ``kill``: SIGKILL to its agent (nothing cleans up; the kernel's lease
  closes the gates);
- ``link``: its underlay link cut (at the underlay bridge).

The outage is the largest gap between UDP replies around the event; the
TCP stream survives when its connection keeps echoing with no error.
Then the host comes back (agent restarted, link restored) as a standby and
the next trial fails over the other way.

Configurations, side by side: kumo's default beats (every 0.05 s, dead
after 0.25 s) with connection-state sync; the same without sync (the
kernel's loose TCP pickup alone); Neutron-like timing (every 2 s, dead
after 6 s, as keepalived's 2 s adverts with three missed). ``--soak S``
then keeps a fast lab running S seconds with both cores busy and counts
active-gateway changes (there should be none).
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import machine
from kumo.compiler import names
from kumo.lab import supervisor
from kumo.lab.supervisor import LabState
from tests.dataplane.ha_nodes import PROBE
from tests.live import _free_port

ROOT = Path(__file__).resolve().parent.parent
KUMO = str(ROOT / ".venv" / "bin" / "kumo")
OPENSTACK = str(ROOT / ".venv" / "bin" / "openstack")
UPSTREAM = "203.0.113.1"


@dataclass
class Config:
    name: str
    interval: float
    hold: float
    sync: bool = True
    modes: tuple[str, ...] = ("graceful", "kill", "link")


@dataclass
class Lab:
    config: Config
    state: Path
    prefix: str
    instance_ns: str = ""
    server: subprocess.Popen[bytes] | None = None
    results: dict[str, list[tuple[float, bool]]] = field(default_factory=dict)

    def kumo(self, *args: str, check: bool = True) -> str:
        done = subprocess.run([KUMO, *args, "--state-dir", str(self.state)], capture_output=True,
                              text=True, timeout=300)  # fmt: skip
        if check and done.returncode != 0:
            raise RuntimeError(f"kumo {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def openstack(self, *args: str) -> str:
        env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(self.state / "clouds.yaml"),
               "OS_CLOUD": "kumo"}  # fmt: skip
        done = subprocess.run([OPENSTACK, *args], capture_output=True, text=True, env=env,
                              timeout=120)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"openstack {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def up(self) -> None:
        c = self.config
        args = ["up", "--hosts", "3", "--gateways", "2", "--l3-ha", "--port", str(_free_port()),
                "--prefix", self.prefix, "--detach", "--ha-interval", str(c.interval),
                "--ha-hold", str(c.hold)]  # fmt: skip
        if not c.sync:
            args.append("--no-ha-state-sync")
        self.kumo(*args)
        self.openstack("network", "create", "neta")
        self.openstack("subnet", "create", "--network", "neta", "--subnet-range", "10.90.1.0/24",
                       "suba")  # fmt: skip
        self.openstack("router", "create", "r1")
        self.openstack("router", "set", "--external-gateway", "public", "r1")
        self.openstack("router", "add", "subnet", "r1", "suba")
        self.kumo("lab", "instance", "create", "a1", "--network", "neta", "--host",
                  f"{self.prefix}host1", "--ip", "10.90.1.11", "--disable-port-security")  # fmt: skip
        port = self.openstack("port", "list", "--fixed-ip", "ip-address=10.90.1.11", "-f",
                              "value", "-c", "ID").split()[0]  # fmt: skip
        self.instance_ns = names.instance_netns(f"{self.prefix}host1", port)
        self.server = subprocess.Popen(["ip", "netns", "exec", f"{self.prefix}up", sys.executable,
                                        PROBE, "serve", "7777"])  # fmt: skip
        self.settle(timeout=60)

    def ha_states(self) -> dict[str, str]:
        out = self.openstack("network", "agent", "list", "--router", "r1", "--long", "-f", "json")
        return {row["Host"]: row["HA State"] for row in json.loads(out)}

    def settle(self, timeout: float = 60) -> str:
        """Wait until one gateway is active and the other standby, and SNAT
        answers; the active host."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = self.ha_states()
            if sorted(states.values()) == ["active", "standby"] and self._reaches():
                time.sleep(2 * self.config.hold + 0.5)
                return next(h for h, s in states.items() if s == "active")
            time.sleep(0.5)
        raise RuntimeError(f"the router did not settle: {self.ha_states()}")

    def _reaches(self) -> bool:
        done = subprocess.run(["ip", "netns", "exec", self.instance_ns, "ping", "-c", "1", "-W",
                               "1", UPSTREAM], capture_output=True)  # fmt: skip
        return done.returncode == 0

    def trial(self, mode: str, after: float) -> tuple[float, bool]:
        active = self.settle()
        lab = LabState.load(self.state)
        assert lab is not None
        duration = 1.0 + after
        probes = [
            subprocess.Popen(["ip", "netns", "exec", self.instance_ns, sys.executable, PROBE, kind,
                              UPSTREAM, "7777", str(duration)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for kind in ("udp", "tcp")
        ]  # fmt: skip
        time.sleep(1.0)
        at = time.monotonic()
        index = int(active.removeprefix(f"{self.prefix}host"))
        if mode == "graceful":
            supervisor.control(self.state, "stop", active, "TERM")
        elif mode == "kill":
            supervisor.control(self.state, "stop", active, "KILL")
        else:
            subprocess.run(["ip", "-n", f"{self.prefix}ul", "link", "set", f"u{index}", "down"],
                           check=True)  # fmt: skip
        results = []
        for proc in probes:
            out, err = proc.communicate(timeout=duration + 60)
            if proc.returncode != 0:
                raise RuntimeError(f"probe: {err.strip()}")
            results.append(json.loads(out))
        udp, tcp = results
        times = [at - 0.2, *(t for t in udp["replies"] if at - 0.2 <= t <= at + after - 0.3),
                 at + after - 0.3]  # fmt: skip
        outage = max(b - a for a, b in zip(times, times[1:], strict=False))
        survived = tcp["error"] is None and bool(tcp["replies"]) and tcp["replies"][-1] > at + 0.5
        # Bring the host back as a standby.
        if mode == "link":
            subprocess.run(["ip", "-n", f"{self.prefix}ul", "link", "set", f"u{index}", "up"],
                           check=True)  # fmt: skip
        else:
            supervisor.control(self.state, "start", active)
        return outage, survived

    def down(self) -> None:
        if self.server is not None:
            self.server.kill()
            self.server.wait(timeout=10)
        self.kumo("down", check=False)


def soak(seconds: float) -> dict[str, Any]:
    """Active-gateway changes while a fast lab idles with both cores busy."""
    lab = Lab(Config("soak", 0.05, 0.25), Path(f"/tmp/kumo-bench-failover-soak-{uuid.uuid4().hex[:6]}"),
              f"kbf{uuid.uuid4().hex[:3]}-")  # fmt: skip
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        lab.up()
        before = lab.ha_states()
        logs = sorted((lab.state / "logs").glob("agent-*.log"))
        start = {p: p.read_text().count(": active for ") for p in logs}
        time.sleep(seconds)
        changes = sum(p.read_text().count(": active for ") - start[p] for p in logs)
        return {"seconds": seconds, "claim_changes": changes, "before": before,
                "after": lab.ha_states()}  # fmt: skip
    finally:
        for b in burners:
            b.kill()
        lab.down()


def run_config(config: Config, trials: int) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:3]
    lab = Lab(config, Path(f"/tmp/kumo-bench-failover-{config.name}-{tag}"), f"kbf{tag}-")
    after = max(3.0, 3 * config.hold + 2.0)
    out: dict[str, Any] = {"interval": config.interval, "hold": config.hold, "sync": config.sync}
    try:
        lab.up()
        for mode in config.modes:
            rows = [lab.trial(mode, after) for _ in range(trials)]
            gaps = [g for g, _ in rows]
            out[mode] = {
                "p50_s": round(statistics.median(gaps), 3),
                "max_s": round(max(gaps), 3),
                "tcp_survived": f"{sum(1 for _, ok in rows if ok)}/{len(rows)}",
                "gaps_s": [round(g, 3) for g in gaps],
            }
            print(config.name, mode, out[mode], flush=True)
    finally:
        lab.down()
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--soak", type=float, default=300.0, help="seconds (0: skip)")
    ap.add_argument("--quick", action="store_true", help="3 trials, no Neutron-like run, no soak")
    args = ap.parse_args()
    trials = 3 if args.quick else args.trials
    configs = [
        Config("kumo", 0.05, 0.25),
        Config("kumo-no-sync", 0.05, 0.25, sync=False, modes=("kill",)),
    ]
    if not args.quick:
        configs.append(Config("neutron-like", 2.0, 6.0))
    report: dict[str, Any] = {"machine": machine(), "date": dt.date.today().isoformat(),
                              "trials": trials}  # fmt: skip
    for config in configs:
        report[config.name] = run_config(config, trials)
    if args.soak and not args.quick:
        report["soak"] = soak(args.soak)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
