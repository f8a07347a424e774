"""The API servers in a start storm: many whole-interest lists at once, and
the heartbeats that must not wait behind them (``bench/scale.py``'s cloud,
no agents: just their requests).

    .venv/bin/python -m bench.list_storm [--hosts 1000] [--ports 10000] [--networks 100]
        [--big 1000] [--concurrent 300] [--beats 8] [--warm 20] [--compare DIR]
        [--places 2,8,32]

Starts a throwaway PostgreSQL, builds the cloud with an agent registered
per host (as ``bench/host_lists.py --agents``), then, for each tree (with
``--compare DIR``, that checkout's first, then this one's), starts two
``kumo serve`` on the database and:

- warms each with ``--warm`` lists (the port views a server keeps);
- fires ``--concurrent`` lists of distinct hosts at once, half at each
  server, each retried as an agent does: on a timeout (120 s, the agent's
  list read timeout) or an error on the other server, on ``503`` after
  the ``Retry-After`` it names (the agent's own ``busy_delay``);
- meanwhile ``--beats`` threads post the heartbeats of the registered
  agents, as many as they beat (one each every 30 s: a 1,000-host cloud
  beats ~33 times a second);

and reports the time until every host had its list, each list's wall
time, the answers (200, 503, timeouts), the servers' CPU per list, and the
heartbeats' latency during the storm. The two trees run one after the
other on the same cloud, so compare them as ratios; ``--places`` storms
this tree again with other numbers of lists in progress at once.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from bench.common import Server, environ, kumo_server, machine, percentile
from bench.host_lists import _register
from bench.scale import Cloud, Layout, _project, postgresql
from kumo.agent.client import LIST_READ_TIMEOUT, busy_delay

BEAT_INTERVAL = 30.0
"""Seconds between an agent's heartbeats: the threads beat for all agents."""


@dataclass
class Storm:
    label: str
    seconds: float = 0.0
    walls: list[float] = field(default_factory=list)
    """Wall time of each list answered 200 (the attempt that succeeded)."""
    answers: Counter[str] = field(default_factory=Counter)
    beats: list[float] = field(default_factory=list)
    cpu: float = 0.0
    loads: tuple[float, float] = (0.0, 0.0)


def _lister(bases: list[str], token: str, host: str, first: int, out: Storm,
            lock: threading.Lock) -> None:  # fmt: skip
    """One host's list, retried as the agent retries it."""
    at = first
    refusals = 0
    timeout = httpx.Timeout(30.0, read=LIST_READ_TIMEOUT)
    with httpx.Client(headers={"X-Auth-Token": token}, timeout=timeout) as client:
        while True:
            t0 = time.monotonic()
            try:
                r = client.get(f"{bases[at % len(bases)]}/internal/v1/list",
                               params={"topics": f"host:{host}", "host": host})  # fmt: skip
            except httpx.HTTPError as exc:
                failed = "timeout" if isinstance(exc, httpx.TimeoutException) else "error"
                with lock:
                    out.answers[failed] += 1
                at += 1
                time.sleep(0.2)
                continue
            wall = time.monotonic() - t0
            with lock:
                out.answers[str(r.status_code)] += 1
            if r.status_code == 200:
                r.json()
                with lock:
                    out.walls.append(wall)
                return
            at += 1
            if r.status_code == 503:
                refusals += 1
                after = float(r.headers.get("Retry-After", "1"))
                time.sleep(busy_delay(after, refusals, len(bases)))
            else:
                time.sleep(0.2)


def _beater(bases: list[str], token: str, ids: list[str], every: float, stop: threading.Event,
            out: Storm, lock: threading.Lock, seed: int) -> None:  # fmt: skip
    """Heartbeats of random agents, one every ``every`` seconds (the next at
    once when one took longer)."""
    rng = random.Random(seed)
    due = time.monotonic() + rng.random() * every
    with httpx.Client(headers={"X-Auth-Token": token}, timeout=300) as client:
        while not stop.wait(max(0.0, due - time.monotonic())):
            due += every
            agent = rng.choice(ids)
            t0 = time.monotonic()
            try:
                r = client.post(f"{rng.choice(bases)}/internal/v1/agents/{agent}/heartbeat",
                                json={})  # fmt: skip
                r.raise_for_status()
            except httpx.HTTPError as exc:  # counted: an agent would beat again later
                with lock:
                    out.answers[f"heartbeat {type(exc).__name__}"] += 1
                continue
            with lock:
                out.beats.append(time.monotonic() - t0)


def _storm(label: str, servers: list[Server], hosts: list[str], ids: list[str],
           beats: int, warm: list[str]) -> Storm:  # fmt: skip
    out = Storm(label)
    lock = threading.Lock()
    bases = [s.base for s in servers]
    token = servers[0].token()
    with httpx.Client(headers={"X-Auth-Token": token}, timeout=600) as client:
        for base in bases:  # untimed: the port views each server keeps
            for host in warm:
                client.get(f"{base}/internal/v1/list",
                           params={"topics": f"host:{host}", "host": host}).raise_for_status()  # fmt: skip
    stop = threading.Event()
    every = beats * BEAT_INTERVAL / len(ids)  # each thread's share of every agent's beat
    beaters = [threading.Thread(target=_beater, args=(bases, token, ids, every, stop, out, lock, i))
               for i in range(beats)]  # fmt: skip
    listers = [threading.Thread(target=_lister, args=(bases, token, host, i, out, lock))
               for i, host in enumerate(hosts)]  # fmt: skip
    cpu = sum(s.cpu_seconds() for s in servers)
    load0 = os.getloadavg()[0]
    t0 = time.monotonic()
    for t in beaters + listers:
        t.start()
    for t in listers:
        t.join()
    out.seconds = time.monotonic() - t0
    out.cpu = sum(s.cpu_seconds() for s in servers) - cpu
    out.loads = (load0, os.getloadavg()[0])
    stop.set()
    for t in beaters:
        t.join()
    return out


def _report(storm: Storm, n: int) -> None:
    walls, beats = storm.walls, storm.beats
    answers = ", ".join(f"{k} {v}" for k, v in sorted(storm.answers.items()))
    print(f"{storm.label}: {n} lists at once, all answered after {storm.seconds:.1f} s "
          f"(load {storm.loads[0]:.1f} -> {storm.loads[1]:.1f}); answers: {answers}")  # fmt: skip
    print(f"  list wall p50 / p90 / max: {percentile(walls, 50):.2f} / "
          f"{percentile(walls, 90):.2f} / {max(walls):.2f} s; servers' CPU "
          f"{storm.cpu:.1f} s, {storm.cpu / n * 1e3:.0f} ms per host listed")  # fmt: skip
    print(f"  heartbeats during the storm: {len(beats)}, p50 / p90 / max "
          f"{percentile(beats, 50) * 1e3:.0f} / {percentile(beats, 90) * 1e3:.0f} / "
          f"{max(beats, default=float('nan')) * 1e3:.0f} ms")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--ports", type=int, default=10000)
    ap.add_argument("--networks", type=int, default=100)
    ap.add_argument("--big", type=int, default=1000)
    ap.add_argument("--concurrent", type=int, default=300, help="lists fired at once")
    ap.add_argument("--beats", type=int, default=8, help="threads posting heartbeats")
    ap.add_argument("--warm", type=int, default=20, help="lists per server before the storm")
    ap.add_argument("--compare", default=None, help="another checkout, stormed first")
    ap.add_argument("--places", default="", help="this tree again with each KUMO_LIST_PLACES "
                    "of this comma-separated list")  # fmt: skip
    args = ap.parse_args()
    layout = Layout(args.hosts, args.ports, args.networks, args.big)
    rng = random.Random(25)
    count = min(args.concurrent, layout.hosts)
    hosts = [layout.host(i) for i in rng.sample(range(layout.hosts), count)]
    warm = [layout.host(rng.randrange(layout.hosts)) for _ in range(args.warm)]
    trees: list[tuple[str, str | None, str | None]] = [("this tree", None, None)]
    if args.compare:
        trees.insert(0, ("compared", args.compare, None))
    for places in filter(None, args.places.split(",")):
        trees.append((f"this tree, {places} at once", None, places))
    storms = []
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(postgresql(None))
        builder = stack.enter_context(kumo_server(url, extra=("--no-metrics",)))
        t0 = time.monotonic()
        Cloud(builder, layout).build(_project(builder))
        ids = _register(builder, layout)
        print(f"cloud built and {len(ids)} agents registered in {time.monotonic() - t0:.0f} s",
              flush=True)  # fmt: skip
        for label, tree, places in trees:
            with contextlib.ExitStack() as pair:
                servers = []
                for _ in range(2):
                    with environ("PYTHONPATH", tree), environ("KUMO_LIST_PLACES", places):
                        s = pair.enter_context(kumo_server(url, extra=("--no-metrics",)))
                    s.admin_password = builder.admin_password
                    servers.append(s)
                storm = _storm(label, servers, hosts, ids, args.beats, warm)
                storms.append(storm)
                _report(storm, count)
    print(f"# bench/list_storm.py  {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC  {machine()}")
    print(f"# {layout.hosts} hosts, {layout.ports} ports, {layout.networks} networks, big group "
          f"{layout.big}, an agent per host; {count} lists at once over 2 servers, "
          f"{args.beats} heartbeat threads, {args.warm} lists to warm each server")  # fmt: skip
    for storm in storms:
        _report(storm, count)
    if args.compare:
        a, b = storms[:2]
        print(f"this tree / compared: storm {b.seconds / a.seconds:.2f}, list wall p50 "
              f"{percentile(b.walls, 50) / percentile(a.walls, 50):.2f}, heartbeat p50 "
              f"{percentile(b.beats, 50) / percentile(a.beats, 50):.2f}, CPU "
              f"{b.cpu / a.cpu:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
