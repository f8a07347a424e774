"""Wiring latency on a real lab: port create -> ACTIVE -> first ping from another host.

    .venv/bin/python -m bench.wiring [--ports 100] [--preload 1000]

Builds its own 2-host lab (prefix kbw-, needs root), creates ``--ports``
ports bound to host1 one after another, and for each measures the time
from the create call to status ACTIVE (seen on the watch feed) and to the
first answered ping from
an instance on host2; first on an empty host, then with ``--preload`` ports
already on it. Then restarts host1's agent and reports how long its first
complete pass took. Removes everything it made.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import free_port, kept_on_failure, machine, percentile, summary_ms
from kumo.compiler import names
from kumo.dataplane.guest.processes import GuestProcesses
from kumo.lab import supervisor
from kumo.lab.supervisor import LabState

KUMO = str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "kumo")
PREFIX = "kbw-"
H1, H2 = f"{PREFIX}host1", f"{PREFIX}host2"
Series = tuple[str, list[float], list[float]]
"""A series' label, its create->ACTIVE and create->ping times."""
TRACE: list[dict[str, object]] = []
"""Each create: its port, when it started (UTC), and the times (ms) to the
create's answer, to ACTIVE and to the first ping (``--keep-logs`` writes it)."""


def _api(state: Path) -> tuple[httpx.Client, LabState]:
    lab = LabState.load(state)
    assert lab is not None
    token = supervisor._admin_token(state, lab.api_url)
    client = httpx.Client(
        base_url=f"{lab.api_url}/networking/v2.0", headers={"X-Auth-Token": token}, timeout=60
    )
    return client, lab


def _wait_active(api: httpx.Client, port_id: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while api.get(f"/ports/{port_id}").json()["port"]["status"] != "ACTIVE":
        if time.monotonic() > deadline:
            raise RuntimeError(f"port {port_id} not ACTIVE after {timeout}s")
        time.sleep(0.005)


def _ping_until(netns: str, address: str, timeout: float = 60) -> None:
    """Returns at the first reply: ping sends every 10 ms until one comes
    back (so the figure's resolution is 10 ms, not a probe's timeout). ping
    gives up at once while the pinger has no route yet (its own DHCP lease),
    so that is retried."""
    deadline = time.monotonic() + timeout
    while True:
        left = max(1, int(deadline - time.monotonic()))
        done = subprocess.run(
            ["ip", "netns", "exec", netns, "ping", "-n", "-q", "-c1", "-i", "0.01",
             "-w", str(left), address],
            capture_output=True,
        )  # fmt: skip
        if done.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{address} never answered")
        time.sleep(0.01)


def _series(
    api: httpx.Client, net: str, pinger_ns: str, count: int
) -> tuple[list[float], list[float]]:
    active, pinged = [], []
    slowest: list[tuple[float, str]] = []
    internal = str(api.base_url).rstrip("/").replace("/networking/v2.0", "/internal/v1")
    for _ in range(count):
        revision = api.get(f"{internal}/list", params={"topics": "agents"}).json()["revision"]
        t0 = time.monotonic()
        port = api.post(
            "/ports",
            json={
                "port": {"network_id": net, "binding:host_id": H1, "device_owner": "compute:lab"}
            },
        ).json()["port"]
        created = time.monotonic()
        _watch_active(api, internal, revision, port["id"])
        t1 = time.monotonic()
        _ping_until(pinger_ns, port["fixed_ips"][0]["ip_address"])
        t2 = time.monotonic()
        active.append(t1 - t0)
        pinged.append(t2 - t0)
        stamp = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=time.monotonic() - t0)
        TRACE.append(
            {"port": port["id"], "at": f"{stamp:%H:%M:%S.%f}", "created_ms": (created - t0) * 1000,
             "active_ms": (t1 - t0) * 1000, "ping_ms": (t2 - t0) * 1000}
        )  # fmt: skip
        slowest = sorted([*slowest, (t1 - t0, f"{stamp:%H:%M:%S.%f}"[:-3])], reverse=True)[:3]
    # When the tail happened, to set beside the agents' logs (slow passes).
    print("  slowest create->ACTIVE:", ", ".join(f"{v * 1000:.0f} ms at {at}" for v, at in slowest))
    return active, pinged


def _watch_active(api: httpx.Client, internal: str, since: int, port_id: str) -> None:
    """Until the watch feed shows the port ACTIVE: the moment the API
    records it, without polling (polling every few milliseconds would take
    CPU from the agent on a small machine)."""
    params = {"since": str(since), "topics": f"host:{H1}"}
    with api.stream("GET", f"{internal}/watch", params=params, timeout=120) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            event = json.loads(line) if line else {}
            body = event.get("object") or {}
            if body.get("id") == port_id and body.get("status") == "ACTIVE":
                return
    raise RuntimeError(f"port {port_id}: the watch ended before it was ACTIVE")


def _preload(api: httpx.Client, count: int) -> None:
    """``count`` ports on host1, 250 per network: a Linux bridge takes at
    most 1,024 ports, so one network cannot hold them all on one host."""
    nets = []
    for i in range((count + 249) // 250):
        net = api.post("/networks", json={"network": {"name": f"preload{i}"}}).json()["network"][
            "id"
        ]
        api.post(
            "/subnets",
            json={"subnet": {"network_id": net, "ip_version": 4, "cidr": f"10.{100 + i}.0.0/22"}},
        )
        nets.append(net)
    ids = []
    for start in range(0, count, 50):
        batch = [
            {
                "network_id": nets[(start + k) // 250],
                "binding:host_id": H1,
                "device_owner": "compute:lab",
            }
            for k in range(min(50, count - start))
        ]
        ids += [p["id"] for p in api.post("/ports", json={"ports": batch}).json()["ports"]]
    for pid in ids:
        _wait_active(api, pid, timeout=600)
    # Ports turn ACTIVE before their guests start: the host is loaded once
    # every preloaded instance runs its DHCP client (the agent's passes
    # that start them are over).
    wanted = {(names.instance_netns(H1, pid), "dhcp") for pid in ids}
    deadline = time.monotonic() + 600
    while not wanted <= set(GuestProcesses().running()):
        if time.monotonic() > deadline:
            raise RuntimeError("preloaded instances did not all start")
        time.sleep(0.2)


def _restart_agent(lab: LabState, state: Path) -> float:
    log = state / "logs" / f"agent-{H1}.log"
    before = log.read_text().count("in sync:")
    supervisor.control(state, "stop", H1, "KILL")
    t0 = time.monotonic()
    supervisor.control(state, "start", H1)
    while log.read_text().count("in sync:") == before:
        time.sleep(0.01)
        if time.monotonic() - t0 > 300:
            raise RuntimeError("agent did not sync")
    took = time.monotonic() - t0
    last = [line for line in log.read_text().splitlines() if "in sync:" in line][-1]
    m = re.search(r"first complete pass ([0-9.]+) ms", last)
    print(f"  (agent's own first pass: {m.group(1) if m else '?'} ms)")
    return took


def run_lab(args: argparse.Namespace, metrics: bool) -> tuple[list[Series], float]:
    """One whole run on a fresh lab; ``metrics`` off: the lab's API counts
    nothing and its agents serve no ``/metrics`` (``KUMO_METRICS=0``)."""
    with kept_on_failure(Path(tempfile.mkdtemp(prefix="kumo-bench-wiring-"))) as state:
        env = {**os.environ, "KUMO_METRICS": "1" if metrics else "0"}
        results: list[Series] = []
        try:
            subprocess.run(
                [KUMO, "up", "--hosts", "2", "--port", str(free_port()), "--prefix", PREFIX,
                 "--state-dir", str(state), "--detach"],
                check=True, capture_output=True, env=env,
            )  # fmt: skip
            api, lab = _api(state)
            api.put(f"/quotas/{_admin_project(state, lab)}", json={"quota": {"port": -1}})
            net = api.post("/networks", json={"network": {"name": "wiring"}}).json()["network"][
                "id"
            ]
            api.post(
                "/subnets",
                json={"subnet": {"network_id": net, "ip_version": 4, "cidr": "10.90.0.0/16"}},
            )
            pinger = api.post(
                "/ports",
                json={
                    "port": {
                        "network_id": net,
                        "binding:host_id": H2,
                        "device_owner": "compute:lab",
                    }
                },
            ).json()["port"]
            _wait_active(api, pinger["id"])
            pinger_ns = names.instance_netns(H2, pinger["id"])
            active, pinged = _series(api, net, pinger_ns, args.ports)
            results.append(("0 ports on host", active, pinged))
            _preload(api, args.preload)
            loaded = args.loaded_ports or args.ports
            active, pinged = _series(api, net, pinger_ns, loaded)
            results.append((f"{args.preload + args.ports}+ ports on host", active, pinged))
            resync = _restart_agent(lab, state)
        finally:
            if args.keep_logs and (state / "logs").is_dir():
                keep = Path(args.keep_logs)
                shutil.copytree(
                    state / "logs", keep, dirs_exist_ok=True, ignore_dangling_symlinks=True
                )
                (keep / "creates.json").write_text(json.dumps(TRACE, indent=1))
            subprocess.run([KUMO, "down", "--state-dir", str(state)], capture_output=True, env=env)
    return results, resync


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ports", type=int, default=100)
    ap.add_argument("--preload", type=int, default=1000)
    ap.add_argument(
        "--loaded-ports",
        type=int,
        default=None,
        help="ports measured on the loaded host (default: --ports)",
    )
    ap.add_argument("--keep-logs", help="copy the lab's logs into this directory before it goes")
    ap.add_argument(
        "--metrics-off-too",
        action="store_true",
        help="a whole run with metrics off first, then one with them on, and the ratio",
    )
    args = ap.parse_args()
    modes = (False, True) if args.metrics_off_too else (True,)
    runs = [(on, *run_lab(args, on)) for on in modes]
    print(f"# bench/wiring.py  {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC  {machine()}")
    total = args.preload + args.ports + (args.loaded_ports or args.ports)
    for on, results, resync in runs:
        print(f"metrics {'on' if on else 'off'}:")
        for label, active, pinged in results:
            print(f"  {label:22s} create->ACTIVE {summary_ms(active)}")
            print(f"  {'':22s} create->ping   {summary_ms(pinged)}")
        print(f"  agent restart with {total} ports: in sync after {resync:.2f} s")
    if len(runs) == 2:
        (_, off, off_resync), (_, on, on_resync) = runs
        print("metrics on / off (p50; > 1: slower with metrics):")
        for (label, off_a, off_p), (_, on_a, on_p) in zip(off, on, strict=True):
            print(
                f"  {label:22s} create->ACTIVE {_ratio(on_a, off_a)}"
                f"  create->ping {_ratio(on_p, off_p)}"
            )
        print(f"  agent restart          {on_resync / off_resync:.3f}")


def _ratio(on: list[float], off: list[float]) -> str:
    return f"{percentile(on, 50) / percentile(off, 50):.3f}"


def _admin_project(state: Path, lab: LabState) -> str:
    token = supervisor._admin_token(state, lab.api_url)
    r = httpx.get(f"{lab.api_url}/identity/v3/auth/projects", headers={"X-Auth-Token": token})
    return next(p["id"] for p in r.json()["projects"] if p["name"] == "admin")


if __name__ == "__main__":
    main()
