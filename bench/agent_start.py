"""What one agent's start and restart cost in CPU, in the simulated cloud of
``bench/scale.py``, without running all its agents.

    .venv/bin/python -m bench.agent_start [--hosts 1000] [--ports 10000] [--networks 100]
        [--big 1000] [--samples 10] [--compare DIR] [--profile FILE]

Starts a throwaway PostgreSQL and a ``kumo serve`` on it, builds the cloud
and registers an agent for every host (as a running cloud's ``agents``
topic holds them all). Then, for ``--samples`` hosts, one at a time, a
worker process starts that host's agent as ``bench/scale.py``'s agents
start: the real ``kumo.agent.loop.Agent`` with its client, cache, compiler
and the real reconcilers over the in-memory fake kernel. It registers,
lists the host's whole interest, fills its cache, compiles and applies the
first pass, reports its ports' status and beats once: a *first start*
(empty fake kernel, the host's ports DOWN in the API), then a *restart*
(a new agent with an empty cache; the fake kernel, its nftables, guests
and UTS namespaces kept as the host keeps them); then a quiet minute of
that agent (a rolling resync, two heartbeats). Before each start what
kumo's modules remember across passes is dropped and the heap collected,
as in a new agent process.

Printed: the worker's CPU (``process_time``) per phase, mean over the
samples: *register*; *list* (the HTTP request); *decode* (its JSON);
*cache* (the objects indexed and parsed, and the interest worked out from
them); *view* and *compile*; *apply* (the reconcilers against the fake
kernel); *report* (status reports, in the pass and after it); *beat* (the
first heartbeat); the rest of the pass (*other*); the requests made; and
the API server's CPU per start (its CPU over both starts, halved).

``--compare DIR`` runs a second worker with another checkout's ``kumo``
(``DIR`` on its ``PYTHONPATH``; this file is run by its path) on the same
server; the two alternate host by host, each on hosts of the same shape
(the host's ports are reset to DOWN before each first start), and the
ratio of the means is printed. ``--profile FILE`` writes a cProfile of
this tree's starts (first starts and restarts) to ``FILE``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PHASES = (
    "register",
    "list",
    "decode",
    "cache",
    "view",
    "compile",
    "apply",
    "report",
    "beat",
    "other",
)

# -- the worker (run by path, with the checkout under test on PYTHONPATH) --------------------


def _worker(base: str, password: str) -> None:  # noqa: C901 - one measuring harness
    """Reads ``host index`` lines on stdin, answers one JSON line each:
    the phases of a first start and of a restart of that host's agent."""
    import cProfile
    import gc
    import logging

    import httpx

    from bench.common import forget_kumo_memory
    from kumo.agent import cache as cache_module
    from kumo.agent import loop, memory
    from kumo.agent.client import ApiClient, Listing
    from kumo.agent.config import AgentConfig, Credentials
    from kumo.dataplane.driver import Dataplane
    from kumo.dataplane.fake import FakeKernel
    from kumo.dataplane.guest.processes import FakeGuests
    from kumo.dataplane.nftables.port import FakeNft
    from kumo.dataplane.uts import FakeUts

    logging.getLogger("kumo").setLevel(logging.ERROR)
    state = Path(tempfile.mkdtemp(prefix="kumo-agent-start-"))
    profile = (
        cProfile.Profile(time.process_time) if os.environ.get("KUMO_AGENT_START_PROFILE") else None
    )
    spent: dict[str, float] = {}
    requests = [0]
    clock = time.process_time

    class Phase:
        """Adds the CPU of a block to ``spent[name]`` and takes it from
        the enclosing phase (phases nest: a report inside the apply)."""

        stack: list[list[float]] = []

        def __init__(self, name: str) -> None:
            self.name = name

        def __enter__(self) -> None:
            self.stack.append([clock(), 0.0])

        def __exit__(self, *exc: object) -> None:
            started, inner = self.stack.pop()
            took = clock() - started
            spent[self.name] = spent.get(self.name, 0.0) + took - inner
            if self.stack:
                self.stack[-1][1] += took

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with Phase(name):
                return fn(*args, **kwargs)

        return wrapper

    class Client(ApiClient):
        def list(self, topics: frozenset[str], host: str | None = None) -> Listing:
            params = {"topics": ",".join(sorted(topics))}
            if host is not None:
                params["host"] = host
            r = self._http.get(self.base + "/internal/v1/list", params=params,
                               headers=self._headers(), timeout=self.list_timeout)  # fmt: skip
            r.raise_for_status()
            with Phase("decode"):
                return Listing.parse(r.json())

    loop.compile_host = timed("compile", loop.compile_host)  # type: ignore[attr-defined]
    cache_module.Cache.view_at = timed("view", cache_module.Cache.view_at)  # type: ignore[method-assign]
    cache_module.Cache.replace = timed("cache", cache_module.Cache.replace)  # type: ignore[method-assign]
    cache_module.Cache.topics = timed("cache", cache_module.Cache.topics)  # type: ignore[method-assign]
    Client.list = timed("list", Client.list)  # type: ignore[method-assign]
    for name in ("report", "report_power", "report_ha"):
        setattr(Client, name, timed("report", getattr(ApiClient, name)))
    Client.heartbeat = timed("beat", ApiClient.heartbeat)  # type: ignore[method-assign]
    Client.register = timed("register", ApiClient.register)  # type: ignore[method-assign]
    send = httpx.Client.send

    def counted(self: httpx.Client, *args: Any, **kwargs: Any) -> Any:
        requests[0] += 1
        return send(self, *args, **kwargs)

    httpx.Client.send = counted  # type: ignore[method-assign]
    token: dict[str, str] = {}

    def start(host: str, index: int, kernel: Any) -> tuple[dict[str, Any], Any]:
        config = AgentConfig(
            host=host,
            api_url=base,
            credentials=Credentials(f"{base}/identity/v3", "admin", password, "admin"),
            tunnel_ip=f"10.250.{index // 250}.{index % 250 + 1}",
            state_dir=state,
            vlan_devices=True,
        )
        client = Client(config)
        if token:  # one token per process, as bench/scale.py's workers share one
            client._token, client._expires = token["token"], float(token["expires"])
        fake, nft, nfts, guests, uts = kernel
        dataplane = Dataplane(fake, host, nft=nft, guests=guests, uts=uts,
                              nft_for=lambda ns: nfts.setdefault(ns, FakeNft()))  # fmt: skip
        agent = loop.Agent(config, dataplane, client=client)
        agent.gc.uninstall()
        agent._settle_memory = lambda ports: None  # type: ignore[method-assign]  # as bench/scale.py
        agent.snat.usage = lambda router_id, ip: 0
        apply = dataplane.apply
        dataplane.apply = timed("apply", apply)  # type: ignore[method-assign]
        forget_kumo_memory()
        gc.collect()  # a new process's heap: no garbage of the last start to walk
        spent.clear()
        requests[0] = 0
        if profile is not None:
            profile.enable()
        t0, w0 = clock(), time.monotonic()
        agent._register()
        # The watch loop's list, as ``Agent._watch_loop`` makes it before watching.
        topics = agent.cache.topics() | memory.recall(host, state)
        revision, objects, whole = client.list(topics, host=host)
        topics = whole or topics
        agent.cache.replace(revision, objects)
        if agent.cache.topics() != topics:
            raise RuntimeError(f"{host}: a second list would be needed")
        memory.remember(host, topics, state)
        agent.cache_ready.set()
        with Phase("other"):
            result = agent._pass()
        client.heartbeat(str(agent.agent_id), agent.readiness())
        total = clock() - t0
        wall = time.monotonic() - w0
        if profile is not None:
            profile.disable()
        if not getattr(result, "ok", True) or not agent.synced.is_set():
            raise RuntimeError(f"{host}: the first pass did not complete: {result}")
        token.update(token=str(client._token), expires=str(client._expires))
        out = {name: spent.get(name, 0.0) for name in PHASES}
        out["total"] = total
        out["wall"] = wall
        out["requests"] = requests[0]
        out["objects"] = len(objects)
        out["changes"] = int(getattr(result, "changes", 0))
        out["wired"] = len(getattr(result, "wired_ports", ()))
        return out, agent

    def minute(agent: Any) -> dict[str, float]:
        """What a settled agent does in a minute with no change: one rolling
        resync (``resync_interval``, 60 s: its passes, a slice of the kernel
        each) and two heartbeats (30 s apart in bench/scale.py)."""
        gc.collect()
        t0 = clock()
        agent.applier.resync(rolling=True)
        passes = 1
        agent._pass()
        while agent.applier.rolling:
            agent._pass()
            passes += 1
        t1 = clock()
        for _ in range(2):
            agent.client.heartbeat(str(agent.agent_id), agent.readiness())
            agent.snat.update(agent.cache.view(), read_usage=True)
        t2 = clock()
        agent.client.close()
        return {"resync": t1 - t0, "passes": passes, "beats": t2 - t1}

    for line in sys.stdin:
        if not line.strip():
            continue
        host, index = line.split()
        # The host's kernel: what the agent's restart finds as it was left.
        kernel: tuple[Any, ...] = (FakeKernel(), FakeNft(), {}, FakeGuests(), FakeUts())
        first, agent = start(host, int(index), kernel)
        agent.client.close()
        again, agent = start(host, int(index), kernel)
        idle = minute(agent)
        print(json.dumps({"first": first, "restart": again, "minute": idle}), flush=True)
    if profile is not None:
        profile.dump_stats(os.environ["KUMO_AGENT_START_PROFILE"])
    shutil.rmtree(state, ignore_errors=True)


# -- the driver ----------------------------------------------------------------------------


def _spawn(tree: Path, base: str, password: str, profile: str | None) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    env.pop("KUMO_AGENT_START_PROFILE", None)
    if profile:
        env["KUMO_AGENT_START_PROFILE"] = profile
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--worker", base, password],
        env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def _reset(api: Any, host: str) -> None:
    """The host's ports DOWN again, as before any agent reported them."""
    r = api.get("/networking/v2.0/ports", params={"binding:host_id": host, "fields": "id"})
    r.raise_for_status()
    ids = [p["id"] for p in r.json()["ports"]]
    body = {"host": host, "active": [], "down": ids}
    api.post("/internal/v1/ports/status", json=body).raise_for_status()


def _table(label: str, rows: list[dict[str, Any]]) -> list[str]:
    out = []
    for kind in ("first", "restart"):
        got = [r[kind] for r in rows]
        cells = "  ".join(
            f"{statistics.fmean(g[p] for g in got) * 1e3:7.1f}" for p in (*PHASES, "total")
        )
        req = statistics.fmean(g["requests"] for g in got)
        srv = statistics.fmean(g["server_list"] for g in got) * 1e3
        p50 = sorted(g["total"] for g in got)[len(got) // 2] * 1e3
        out.append(f"{label:10s} {kind:8s} {cells}  {p50:7.1f}  {req:5.1f}  {srv:7.0f}")
    idle = [r["minute"] for r in rows]
    out.append(
        f"{label:10s} a quiet minute: rolling resync "
        f"{statistics.fmean(i['resync'] for i in idle) * 1e3:.1f} ms "
        f"({statistics.fmean(i['passes'] for i in idle):.0f} passes), 2 heartbeats "
        f"{statistics.fmean(i['beats'] for i in idle) * 1e3:.1f} ms"
    )
    return out


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        _worker(sys.argv[2], sys.argv[3])
        return
    import httpx

    from bench.common import kumo_server, machine
    from bench.host_lists import _register
    from bench.scale import Cloud, Layout, _project, postgresql

    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--ports", type=int, default=10000)
    ap.add_argument("--networks", type=int, default=100)
    ap.add_argument("--big", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--compare", default=None, help="another checkout to measure beside this one")
    ap.add_argument("--profile", default=None, help="write a cProfile of this tree's starts")
    args = ap.parse_args()
    layout = Layout(args.hosts, args.ports, args.networks, args.big)
    rng = random.Random(25)
    here = Path(__file__).resolve().parent.parent
    trees = {"this tree": here}
    if args.compare:
        trees = {"compared": Path(args.compare).resolve(), **trees}
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(postgresql(None))
        after_server = stack.enter_context(contextlib.ExitStack())  # runs once it stopped
        server = stack.enter_context(kumo_server(url, extra=("--no-metrics",)))
        after_server.callback(shutil.rmtree, server.state_dir, True)
        t0 = time.monotonic()
        Cloud(server, layout).build(_project(server))
        _register(server, layout)
        print(f"cloud built, {layout.hosts} agents registered in {time.monotonic() - t0:.0f} s",
              flush=True)  # fmt: skip
        api = stack.enter_context(httpx.Client(
            base_url=server.base, headers={"X-Auth-Token": server.token()}, timeout=300))  # fmt: skip
        workers = {}
        for label, tree in trees.items():
            profile = args.profile if label == "this tree" else None
            proc = _spawn(tree, server.base, server.admin_password, profile)
            stack.callback(proc.wait, 60)
            stack.callback(proc.stdin.close)  # type: ignore[union-attr]
            workers[label] = proc
        # Hosts of the same shape for each tree: the same pair of networks,
        # the same big group membership (hosts of the first half hold members).
        pairs = layout.networks // 2
        half = max(1, layout.hosts // 2)
        got: dict[str, list[dict[str, Any]]] = {k: [] for k in trees}
        loads = [os.getloadavg()[0]]
        for _ in range(args.samples):
            h = rng.randrange(layout.hosts)
            for n, (label, proc) in enumerate(workers.items()):
                i = (h + n * pairs) % layout.hosts
                if (i < half) != (h < half):
                    i = h
                host = layout.host(i)
                _reset(api, host)
                cpu = server.cpu_seconds()
                assert proc.stdin is not None and proc.stdout is not None
                proc.stdin.write(f"{host} {i}\n")
                proc.stdin.flush()
                line = proc.stdout.readline()
                if not line:
                    raise RuntimeError(f"the worker of {label} ended")
                row = json.loads(line)
                # The server's CPU of both starts, split evenly (lists dominate it).
                for kind in ("first", "restart"):
                    row[kind]["server_list"] = (server.cpu_seconds() - cpu) / 2
                got[label].append(row)
        loads.append(os.getloadavg()[0])
    print(f"# bench/agent_start.py  {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC  {machine()}")
    print(f"# {layout.hosts} hosts, {layout.ports} ports, {layout.networks} networks, big group "
          f"{layout.big}, an agent registered per host; {args.samples} hosts sampled; "
          f"load {loads[0]:.1f} -> {loads[1]:.1f}")  # fmt: skip
    sample = next(iter(got.values()))[0]["first"]
    print(
        f"# per start: {sample['objects']} objects listed, {sample['wired']} ports wired; "
        "agent CPU in ms, mean over the samples (total also p50); server: ms per start"
    )
    head = "  ".join(f"{p:>7s}" for p in (*PHASES, "total"))
    print(f"{'tree':10s} {'start':8s} {head}  {'p50':>7s}  {'reqs':>5s}  {'server':>7s}")
    for label, rows in got.items():
        for line in _table(label, rows):
            print(line)
    if args.compare:
        for kind in ("first", "restart"):
            mean = {k: statistics.fmean(r[kind]["total"] for r in rows) for k, rows in got.items()}
            print(f"{kind}: agent CPU, this tree / compared: "
                  f"{mean['this tree'] / mean['compared']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
