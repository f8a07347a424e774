"""The cost of metrics, measured interleaved: two ``kumo serve`` processes
run side by side, one with ``--no-metrics``, and receive the same requests
in alternating rounds, so whatever else loads the machine falls on both.

    .venv/bin/python -m bench.metrics_cost [--rounds 12] [--per-round 40]

Each round sends, to each server in turn (which one goes first alternates),
``--per-round`` requests of one kind: network + subnet create, port create,
port show, and a list of 500 ports. The figure compared is the server
process's CPU time (user + system from /proc) summed over all rounds, which
other jobs on the machine barely move, next to the p50 latency. Ratios
above 1 mean slower with metrics. Before the rounds, each server gets one
round of every kind unmeasured (the first use of a route's labelled series
happens there, once per process).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from bench.common import Server, kumo_server, machine, percentile

N = "/networking/v2.0"


@dataclass
class Tally:
    cpu: float = 0.0
    requests: int = 0
    latencies: list[float] = field(default_factory=list)


@dataclass
class Side:
    label: str
    srv: Server
    client: httpx.Client
    net: str = ""
    listed_net: str = ""
    port: str = ""
    serial: int = 0
    tallies: dict[str, Tally] = field(default_factory=dict)


def _timed(side: Side, kind: str, count: int, one: Callable[[Side], None], measure: bool) -> None:
    cpu = side.srv.cpu_seconds()
    lat = []
    for _ in range(count):
        t0 = time.perf_counter()
        one(side)
        lat.append(time.perf_counter() - t0)
    if measure:
        tally = side.tallies.setdefault(kind, Tally())
        tally.cpu += side.srv.cpu_seconds() - cpu
        tally.requests += count
        tally.latencies += lat


def _ok(r: httpx.Response) -> dict:  # type: ignore[type-arg]
    r.raise_for_status()
    return r.json()  # type: ignore[no-any-return]


def net_and_subnet(side: Side) -> None:
    side.serial += 1
    n = _ok(side.client.post(N + "/networks", json={"network": {"name": f"m{side.serial}"}}))
    body = {"network_id": n["network"]["id"], "ip_version": 4, "cidr": "10.9.0.0/24"}
    _ok(side.client.post(N + "/subnets", json={"subnet": body}))


def port_create(side: Side) -> None:
    _ok(side.client.post(N + "/ports", json={"port": {"network_id": side.net}}))


def port_show(side: Side) -> None:
    _ok(side.client.get(f"{N}/ports/{side.port}"))


def list_500(side: Side) -> None:
    _ok(side.client.get(f"{N}/ports?network_id={side.listed_net}"))


KINDS: dict[str, tuple[Callable[[Side], None], int]] = {
    # kind: (one request, requests in a round relative to --per-round: lists are slower)
    "network + subnet create": (net_and_subnet, 1),
    "port create": (port_create, 1),
    "port show": (port_show, 2),
    "list 500 ports": (list_500, 0),
}


def prepare(side: Side) -> None:
    c = side.client
    project = _ok(c.get("/identity/v3/auth/tokens", headers={"X-Subject-Token": side.srv.token()}))
    quota = {"quota": {"port": -1, "network": -1, "subnet": -1}}
    c.put(f"{N}/quotas/{project['token']['project']['id']}", json=quota).raise_for_status()
    for attr in ("net", "listed_net"):
        n = _ok(c.post(N + "/networks", json={"network": {"name": attr}}))["network"]["id"]
        body = {"network_id": n, "ip_version": 4, "cidr": "10.0.0.0/16"}
        _ok(c.post(N + "/subnets", json={"subnet": body}))
        setattr(side, attr, n)
    side.port = _ok(c.post(N + "/ports", json={"port": {"network_id": side.net}}))["port"]["id"]
    bulk = [{"network_id": side.listed_net} for _ in range(100)]
    for _ in range(5):
        _ok(c.post(N + "/ports", json={"ports": bulk}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=12)
    p.add_argument("--per-round", type=int, default=40)
    args = p.parse_args()
    started = dt.datetime.now(dt.UTC)
    load_before = os.getloadavg()[0]
    with kumo_server(extra=("--no-metrics",)) as off, kumo_server() as on:
        sides = []
        for label, srv in (("off", off), ("on", on)):
            client = httpx.Client(
                base_url=srv.base, headers={"X-Auth-Token": srv.token()}, timeout=120
            )
            sides.append(Side(label, srv, client))
        for side in sides:
            prepare(side)
        for kind, (one, _scale) in KINDS.items():  # warm-up, not measured
            for side in sides:
                _timed(side, kind, 3, one, measure=False)
        for r in range(args.rounds):
            order = sides if r % 2 == 0 else sides[::-1]
            for kind, (one, scale) in KINDS.items():
                count = args.per_round * scale if scale else max(4, args.per_round // 8)
                for side in order:
                    _timed(side, kind, count, one, measure=True)
        for side in sides:
            side.client.close()
    load_after = os.getloadavg()[0]
    by = {s.label: s.tallies for s in sides}
    print(f"# bench.metrics_cost — {machine()}")
    print(
        f"# {started:%Y-%m-%d %H:%M} UTC, {args.rounds} rounds x {args.per_round} requests, "
        f"load average {load_before:.1f} -> {load_after:.1f}"
    )
    print("| requests | CPU/req off | CPU/req on | CPU on/off | p50 off | p50 on | p50 on/off |")
    print("|---|---|---|---|---|---|---|")
    for kind in KINDS:
        a, b = by["off"][kind], by["on"][kind]
        ca, cb = a.cpu * 1000 / a.requests, b.cpu * 1000 / b.requests
        la, lb = percentile(a.latencies, 50) * 1000, percentile(b.latencies, 50) * 1000
        print(
            f"| {kind} (n={a.requests}) | {ca:.2f} ms | {cb:.2f} ms | {cb / ca:.3f} "
            f"| {la:.1f} ms | {lb:.1f} ms | {lb / la:.3f} |"
        )


if __name__ == "__main__":
    main()
