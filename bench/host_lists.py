"""What one host's first list costs the API server, in the simulated cloud
of ``bench/scale.py`` (no agents: just the lists they would make).

    .venv/bin/python -m bench.host_lists [--hosts 1000] [--ports 10000] [--networks 100]
        [--big 1000] [--samples 40] [--agents] [--warm N] [--compare DIR]

Starts a throwaway PostgreSQL and a ``kumo serve`` of this tree on it,
builds the cloud, then asks ``GET /internal/v1/list?host=H`` (the whole
interest of host H, as an agent starting afresh does) for ``--samples``
hosts, one at a time, and reports the server's CPU seconds and the wall
time per list, and the size of the answer. With ``--agents``, an agent is
registered for each host first (no agent runs): every list then also holds
every agent, as the ``agents`` topic of a running cloud does. With
``--warm N``, each server first lists N other hosts, untimed, as the
earlier lists of a restart storm would have (what a server keeps between
lists is then as it is in the storm's steady state). With ``--compare DIR`` a second
server runs another checkout's ``kumo`` (``DIR`` on its ``PYTHONPATH``) on
the same database, and the lists alternate between the two servers, host
by host, so both see the same hosts at the same moments of the machine's
load; CPU seconds, unlike latency, barely move with the load.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import random
import statistics
import time

import httpx

from bench.common import Server, environ, kumo_server, machine, percentile
from bench.scale import Cloud, Layout, _project, postgresql


def _one(server: Server, client: httpx.Client, host: str) -> tuple[float, float, int, int]:
    """(CPU s, wall s, objects, bytes) of one whole-interest list of ``host``."""
    cpu = server.cpu_seconds()
    t0 = time.monotonic()
    r = client.get("/internal/v1/list", params={"topics": f"host:{host}", "host": host})
    wall = time.monotonic() - t0
    r.raise_for_status()
    return server.cpu_seconds() - cpu, wall, len(r.json()["objects"]), len(r.content)


def _register(server: Server, layout: Layout) -> list[str]:
    """An agent for each host, as a starting agent registers (its underlay
    address, device and mappings in its configurations); their ids."""
    ids = []
    with httpx.Client(base_url=server.base, headers={"X-Auth-Token": server.token()},
                      timeout=60) as client:  # fmt: skip
        for i in range(layout.hosts):
            config = {"tunnel_ip": f"10.250.{i // 250}.{i % 250 + 1}", "underlay_device": "eth0",
                      "bridge_mappings": {"physnet1": "br-physnet1"}, "vlan_devices": {},
                      "in_sync": True, "ports": 10}  # fmt: skip
            body = {"agent": {"host": layout.host(i), "configurations": config}}
            r = client.post("/internal/v1/agents", json=body)
            r.raise_for_status()
            ids.append(str(r.json()["agent"]["id"]))
    return ids


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--ports", type=int, default=10000)
    ap.add_argument("--networks", type=int, default=100)
    ap.add_argument("--big", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=40)
    ap.add_argument("--agents", action="store_true", help="register an agent per host first")
    ap.add_argument("--warm", type=int, default=1, help="lists per server before the measured ones")
    ap.add_argument("--compare", default=None, help="another checkout to measure beside this one")
    args = ap.parse_args()
    layout = Layout(args.hosts, args.ports, args.networks, args.big)
    rng = random.Random(25)
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(postgresql(None))
        servers = {"this tree": stack.enter_context(kumo_server(url, extra=("--no-metrics",)))}
        if args.compare:
            with environ("PYTHONPATH", args.compare):
                other = stack.enter_context(kumo_server(url, extra=("--no-metrics",)))
            # a server joining a database another set up learns no password
            other.admin_password = servers["this tree"].admin_password
            servers = {"compared": other, **servers}
        first = servers["this tree"]
        t0 = time.monotonic()
        Cloud(first, layout).build(_project(first))
        print(f"cloud built in {time.monotonic() - t0:.0f} s", flush=True)
        if args.agents:
            _register(first, layout)
        clients = {
            label: stack.enter_context(httpx.Client(
                base_url=s.base, headers={"X-Auth-Token": s.token()}, timeout=600))
            for label, s in servers.items()
        }  # fmt: skip
        hosts = [layout.host(rng.randrange(layout.hosts)) for _ in range(args.samples)]
        warm = [layout.host(rng.randrange(layout.hosts)) for _ in range(max(1, args.warm))]
        for label, s in servers.items():  # untimed lists to warm the caches
            for host in warm:
                _one(s, clients[label], host)
        got: dict[str, list[tuple[float, float, int, int]]] = {k: [] for k in servers}
        loads = [os.getloadavg()[0]]
        for host in hosts:
            for label, s in servers.items():
                got[label].append(_one(s, clients[label], host))
        loads.append(os.getloadavg()[0])
    print(f"# bench/host_lists.py  {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC  {machine()}")
    print(f"# {layout.hosts} hosts, {layout.ports} ports, {layout.networks} networks, big group "
          f"{layout.big}{', an agent per host' if args.agents else ''}; {args.warm} lists to "
          f"warm, {args.samples} hosts sampled; load {loads[0]:.1f} -> {loads[1]:.1f}")  # fmt: skip
    print("tree        CPU per list p50 / p99 (ms)   wall p50 / p99 (ms)   objects   KiB")
    base = None
    for label, rows in got.items():
        cpu = [r[0] for r in rows]
        wall = [r[1] for r in rows]
        print(
            f"{label:10s}  {percentile(cpu, 50) * 1e3:7.0f} / {percentile(cpu, 99) * 1e3:7.0f}"
            f"          {percentile(wall, 50) * 1e3:7.0f} / {percentile(wall, 99) * 1e3:7.0f}"
            f"        {statistics.fmean(r[2] for r in rows):7.0f}"
            f"   {statistics.fmean(r[3] for r in rows) / 1024:5.0f}"
        )
        mean = statistics.fmean(cpu)
        if base is None:
            base = mean
        else:
            print(f"CPU per list, this tree / compared: {mean / base:.2f}")


if __name__ == "__main__":
    main()
