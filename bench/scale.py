"""A simulated cloud: two API servers on PostgreSQL and many agents, on one machine.

    .venv/bin/python -m bench.scale [--hosts 1000] [--ports 10000] [--workers 4]

Starts a throwaway PostgreSQL (``scripts/pg.sh``; or ``--database-url``),
two ``kumo serve`` processes on it, and ``--hosts`` agents spread over
``--workers`` processes. Each agent is the real ``kumo.agent.loop.Agent``
(its own watch connection, cache and compiler), applying its plans with
the real reconcilers over the in-memory fake kernel and nftables; half the
agents use the first server, half the second, each naming both.

The cloud: ``--networks`` networks (one subnet each), a router joining
each pair of networks, one security group per network whose rules name
the group itself and the next one as remote groups, and ``--ports`` ports,
``ports / hosts`` per host on two networks. Besides, a big group
(``--big`` members, two per host on the first half of the hosts) with a
rule naming itself.

Measured, each change made on its own once the cloud is quiet:

- port create, rule create, a port joining the big group: from the API
  call to the moment every agent that received the change applied a plan
  that holds it (the pass that covered its revision ended); p50/p99/max
  over the changes, and over (agent, change) pairs;
- watch events and bytes the agents received per change (all agents,
  including the port's ACTIVE echo), how many agents received it, and how
  many of those had kernel work to do for it (their pass changed something);
- the API servers' CPU per change (both processes; background heartbeats
  included);
- a restart storm: every agent replaced at once by a new one with an empty
  cache (the fake kernel and nftables keep their state, as a real host's do), and the
  time until all are in sync again;
- the ``agent`` events (peers' registrations and reports) all agents
  received: during the start, for readiness heartbeats (each agent reports
  not ready, then ready, as an agent resyncing does) and during the storm.

Not simulated: tokens (each worker process asks for one and its agents
share it), the full collection of an agent's memory settling (one process
holds hundreds of agents, so it would walk everyone's objects each time:
a settled agent only freezes the process's heap), HA beats.
Heartbeats every ``--heartbeat`` seconds (the servers are started with
an agent down time four times that). The agents' processes run at
``--agents-nice`` (10): on one machine, hundreds of agent threads would
otherwise take the cores from the API servers and PostgreSQL by their
number, which real hosts, each on a machine of its own, never do; the
agents still use every cycle the control plane leaves. A process's
agents take turns (``TURNS`` at once) for their CPU work (a list's decode
and cache, a pass), as each host's agent has a CPU of its own: hundreds
of threads waiting at once for one interpreter lock each wake every
switch interval (5 ms) to ask for it, and in a storm that polling took
two thirds of the agents' CPU (243 of 359 ms per agent in the kernel,
20 million context switches); waiting for a turn costs nothing.
"""

from __future__ import annotations

import argparse
import builtins
import contextlib
import datetime as dt
import gc
import ipaddress
import logging
import multiprocessing as mp
import os
import random
import resource
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

from bench import scale_progress
from bench.common import ROOT, Server, forget_kumo_memory, kumo_server, machine, percentile

# -- the simulated hosts (worker processes) ----------------------------------------------


@dataclass
class Recorder:
    """What one agent received and when its passes ended."""

    events: int = 0
    bytes: int = 0
    agent_events: int = 0
    """Events of kind ``agent`` (peers' registrations and reports)."""
    lists: int = 0
    firsts: dict[str, tuple[int, float]] = field(default_factory=dict)
    """Object id -> (revision, time) of its first event since the last clear."""
    passes: list[tuple[int, float, int]] = field(default_factory=list)
    """(cache revision the pass covered at least, time its apply ended, work
    done: kernel changes, plus one when the plan differed from the last)."""

    def clear(self) -> None:
        self.firsts = {}
        self.passes = []


TURNS = 2
"""Agents of one process doing CPU work at once (the interpreter lock
lets one run; one more is ready to take over)."""


def _make_agent(host: str, index: int, urls: list[str], password: str, state: Path,
                token: Any, kernel: Any, turns: threading.Semaphore) -> Any:  # fmt: skip
    """An agent for ``host``: the real loop, a counting client, the real
    dataplane on ``kernel`` (a ``FakeKernel``, the host's nftables and its
    namespaces' nftables, kept across restarts as a host keeps them)."""
    import orjson

    from kumo.agent.client import ApiClient, Gone, Listing
    from kumo.agent.config import AgentConfig, Credentials
    from kumo.agent.loop import Agent
    from kumo.dataplane.driver import Dataplane
    from kumo.dataplane.nftables.port import FakeNft

    rec = Recorder()

    class Client(ApiClient):
        def token(self) -> str:
            return str(token())

        def list(self, topics: frozenset[str], host: str | None = None) -> Listing:
            r = self.list_answer(topics, host)  # a refusal is ``Busy``, as for any agent
            rec.bytes += len(r.content)
            rec.lists += 1
            with turns:
                return Listing.parse(orjson.loads(r.content))

        def report(self, active: builtins.list[str], down: builtins.list[str]) -> None:
            """Called in a pass, which holds a turn: the turn is another's
            while the server answers."""
            turns.release()
            try:
                super().report(active, down)
            finally:
                turns.acquire()

        def watch(self, since: int, topics: frozenset[str]) -> Iterator[dict[str, Any]]:
            params = {"since": str(since), "topics": ",".join(sorted(topics))}
            headers = self._headers()
            with self._http.stream(
                "GET", self.base + "/internal/v1/watch", params=params, headers=headers
            ) as r:
                if r.status_code == 410:
                    raise Gone(f"revision {since} expired")
                r.raise_for_status()
                for line in r.iter_lines():
                    if not line:
                        continue
                    rec.bytes += len(line) + 1
                    event = orjson.loads(line)
                    if event.get("type") == "gone":
                        raise Gone(f"revision {event.get('revision')} expired")
                    if "kind" in event:
                        rec.events += 1
                        rec.agent_events += event["kind"] == "agent"
                        key = str((event.get("object") or {}).get("id"))
                        if key not in rec.firsts:
                            rec.firsts[key] = (int(event["revision"]), time.monotonic())
                    yield event

    class Timed:
        """The dataplane, noting when each pass's apply ended."""

        def __init__(self, inner: Dataplane) -> None:
            self.inner = inner
            self.rev = 0
            self.last: Any = None

        def apply(self, plan: Any) -> Any:
            result = self.inner.apply(plan)
            # Work for this host: its plan changed (or the kernel did).
            work = int(result.changes) + (plan != self.last)
            self.last = plan
            rec.passes.append((self.rev, time.monotonic(), work))
            return result

        def retry(self) -> Any:
            return self.inner.retry()

        def resync(self, rolling: bool = False) -> None:
            self.inner.resync(rolling)

        @property
        def rolling(self) -> bool:
            return bool(self.inner.rolling)

        @property
        def before_guests(self) -> Any:
            return self.inner.before_guests

        @before_guests.setter
        def before_guests(self, hook: Any) -> None:
            self.inner.before_guests = hook

        @property
        def vms(self) -> Any:
            return self.inner.vms

        def close(self) -> None:
            self.inner.close()

    class SimAgent(Agent):
        def _pass(self) -> Any:
            timed.rev = self.cache.revision  # read before the view: the view holds at least it
            with turns:
                return super()._pass()

        def _settle_memory(self, ports: int) -> None:
            """What an agent's settle leaves, its cache out of the collector's
            reach, without the full collection, which in a process of hundreds
            of agents would walk all of theirs. Without it the collector's
            full passes walked every agent of the process again and again as
            the starts grew the heap: ~60 ms of CPU per start with 100 agents
            in a process, as much as a start's own work."""
            gc.freeze()

    # Agents of the first half use the first server first, the rest the second.
    order = urls if index % 2 == 0 else list(reversed(urls))
    config = AgentConfig(
        host=host,
        api_url=",".join(order),
        credentials=Credentials(f"{order[0]}/identity/v3", "admin", password, "admin"),
        tunnel_ip=str(ipaddress.ip_address("10.128.0.1") + index),
        heartbeat_interval=float(os.environ.get("KUMO_SCALE_HEARTBEAT", "30")),
        state_dir=state,
        vlan_devices=True,
    )
    fake, nft, nfts = kernel
    dataplane = Dataplane(fake, host, nft=nft, nft_for=lambda ns: nfts.setdefault(ns, FakeNft()))
    timed = Timed(dataplane)
    agent = SimAgent(config, timed, client=Client(config))
    agent.gc.uninstall()
    agent.snat.usage = lambda router_id, ip: 0  # no conntrack in a fake kernel
    agent.recorder = rec  # type: ignore[attr-defined]
    replace = agent.cache.replace

    def replace_in_turn(revision: int, objects: list[dict[str, Any]]) -> None:
        with turns:
            replace(revision, objects)

    agent.cache.replace = replace_in_turn  # type: ignore[method-assign]
    return agent


def _worker(conn: Connection, hosts: list[tuple[str, int]], urls: list[str], password: str,
            state: str) -> None:  # fmt: skip
    """A process holding many agents; answers the driver's commands on ``conn``."""
    from kumo.agent.gctime import GcMeter
    from kumo.dataplane.fake import FakeKernel
    from kumo.identity.authbody import password_auth

    # The simulated hosts yield the cores to the control plane, which real
    # hosts do not share with it (--agents-nice).
    os.nice(int(os.environ.get("KUMO_SCALE_AGENTS_NICE", "0")))
    # Hundreds of agents per process: only errors (a restart's ended streams
    # are expected); warnings are counted by what they say.
    warned = scale_progress.Warnings()
    logging.getLogger("kumo").setLevel(logging.WARNING)
    logging.getLogger("kumo").addHandler(warned)
    logging.getLogger("kumo").propagate = False
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    lock = threading.Lock()
    held: dict[str, Any] = {}
    collecting = GcMeter().install()
    # One process's collector serves all its agents: a collection walks every
    # agent's young objects (a full one every agent's unfrozen ones), where a
    # host's own agent walks its own, and the allocations of all of them set
    # it off. With the first threshold scaled by the agents held, the process
    # collects as often per agent's allocations as an agent's own process
    # would, each collection walking that many agents' objects: the same
    # work per agent. (With the defaults, a 1,000-host storm's agents spent
    # 22.8 s of wall time in collections, against 88.3 s of their CPU.)
    young, middle, old = gc.get_threshold()
    gc.set_threshold(young * len(hosts), middle, old)

    def token() -> str:
        with lock:
            if "token" not in held:
                body = password_auth("admin", password, project_name="admin")
                r = httpx.post(
                    f"{urls[0]}/identity/v3/auth/tokens?nocatalog", json=body, timeout=60
                )
                r.raise_for_status()
                held["token"] = r.headers["X-Subject-Token"]
            return str(held["token"])

    from kumo.dataplane.nftables.port import FakeNft

    # A host's kernel and its nftables outlive its agent's restart.
    kernels: dict[str, tuple[Any, ...]] = {h: (FakeKernel(), FakeNft(), {}) for h, _ in hosts}
    turns = threading.Semaphore(TURNS)

    def build() -> dict[str, Any]:
        return {
            h: _make_agent(h, i, urls, password, Path(state), token, kernels[h], turns)
            for h, i in hosts
        }

    agents = build()
    retired: list[Any] = []
    while True:
        cmd, arg = conn.recv()
        if cmd == "start":
            _start_all(agents.values())
            conn.send(None)
        elif cmd == "synced":
            conn.send(sum(a.synced.is_set() for a in agents.values()))
        elif cmd == "clear":
            for a in agents.values():
                a.recorder.clear()
            conn.send(None)
        elif cmd == "counters":
            conn.send({h: (a.recorder.events, a.recorder.bytes) for h, a in agents.items()})
        elif cmd == "agent events":
            conn.send(sum(a.recorder.agent_events for a in agents.values()))
        elif cmd == "cpu":
            conn.send(time.process_time())  # all of this process's agents
        elif cmd == "gc":
            conn.send(collecting.total)  # of it, the cyclic collector's
        elif cmd == "lists":
            conn.send(sum(a.recorder.lists for a in agents.values()))
        elif cmd == "warnings":
            conn.send(dict(warned.counts))
        elif cmd == "roles":
            conn.send(scale_progress.cpu_by_role())
        elif cmd == "stats":
            totals: dict[str, float] = {"lists": 0, "threads": threading.active_count()}
            for a in agents.values():
                totals["lists"] += a.recorder.lists
                for k in ("busy", "relists", "errors", "applies"):
                    totals[k] = totals.get(k, 0) + a.stats[k]
            conn.send(totals)
        elif cmd == "beat":
            # A readiness change, as when an agent resyncs: not ready, then ready again.
            for a in agents.values():
                ready = a.readiness()
                a.client.heartbeat(a.agent_id, {**ready, "ready": False, "in_sync": False})
                a.client.heartbeat(a.agent_id, ready)
            conn.send(2 * len(agents))
        elif cmd == "seen":
            conn.send(
                {h: _seen(a.recorder, arg) for h, a in agents.items() if arg in a.recorder.firsts}
            )
        elif cmd == "restart":
            # Threads of the replaced agents fail on their closed clients: not news.
            threading.excepthook = lambda args: None
            for a in agents.values():  # as a killed process: no goodbye, streams just end
                a.stop_event.set()
                a.dirty.set()
                a.client._http.close()
            retired += agents.values()
            # Each host's agent is a new process after a restart: nothing
            # compiled before is remembered (with it, each new agent's first
            # compile compared its whole view against the last agent's).
            forget_kumo_memory()
            agents = build()
            _start_all(agents.values())
            conn.send(None)
        elif cmd == "stop":
            for a in agents.values():
                a.stop_event.set()
                a.dirty.set()
            conn.send(None)
            os._exit(0)


def _start_all(agents: Any) -> None:
    """Start the agents side by side, as hosts do (each registers first)."""
    starting = [threading.Thread(target=a.start) for a in agents]
    for t in starting:
        t.start()
    for t in starting:
        t.join()


def _seen(rec: Recorder, key: str) -> tuple[float, float | None, int]:
    """(received at, applied at or None, kernel changes of that pass) for object ``key``."""
    revision, received = rec.firsts[key]
    for covered, ended, changes in list(rec.passes):
        if covered >= revision:
            return received, ended, changes
    return received, None, 0


# -- the driver ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    hosts: int
    ports: int
    networks: int
    big: int

    def host(self, i: int) -> str:
        return f"sim{i:04d}"

    def networks_of(self, h: int) -> tuple[int, int]:
        """A host's two networks: a routed pair."""
        pair = h % (self.networks // 2)
        return 2 * pair, 2 * pair + 1


class Cloud:
    """The admin's view of the simulated cloud, through the first server."""

    def __init__(self, server: Server, layout: Layout) -> None:
        self.layout = layout
        self.api = httpx.Client(
            base_url=f"{server.base}/networking/v2.0",
            headers={"X-Auth-Token": server.token()},
            timeout=300,
        )
        self.nets: list[str] = []
        self.groups: list[str] = []
        self.big = ""
        self.cidrs: list[ipaddress.IPv4Network] = []

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = self.api.post(path, json=body)
        if r.status_code >= 300:
            raise RuntimeError(f"POST {path}: {r.status_code} {r.text[:300]}")
        result: dict[str, Any] = r.json()
        return result

    def build(self, project: str) -> None:
        quota = {k: -1 for k in ("port", "network", "subnet", "router", "security_group",
                                  "security_group_rule")}  # fmt: skip
        self.api.put(f"/quotas/{project}", json={"quota": quota}).raise_for_status()
        lay = self.layout
        for n in range(lay.networks):
            net = self.post("/networks", {"network": {"name": f"sim{n}"}})["network"]["id"]
            cidr = ipaddress.IPv4Network(f"10.{n // 16}.{(n % 16) * 16}.0/20")
            self.post("/subnets", {"subnet": {"network_id": net, "ip_version": 4,
                                              "cidr": str(cidr)}})  # fmt: skip
            self.nets.append(net)
            self.cidrs.append(cidr)
        for n in range(lay.networks):
            body = {"security_group": {"name": f"sim{n}"}}
            self.groups.append(self.post("/security-groups", body)["security_group"]["id"])
        self.big = self.post("/security-groups", {"security_group": {"name": "big"}})[
            "security_group"
        ]["id"]
        for n, group in enumerate(self.groups):
            self.rule(group, group)
            self.rule(group, self.groups[(n + 1) % lay.networks], port=22)
        self.rule(self.big, self.big, port=443)
        for pair in range(lay.networks // 2):
            rid = self.post("/routers", {"router": {"name": f"sim{pair}"}})["router"]["id"]
            for n in (2 * pair, 2 * pair + 1):
                sub = self.api.get("/subnets", params={"network_id": self.nets[n]}).json()
                body = {"subnet_id": sub["subnets"][0]["id"]}
                self.api.put(f"/routers/{rid}/add_router_interface", json=body).raise_for_status()
        self._ports()

    def rule(self, group: str, remote: str, port: int | None = None) -> str:
        body: dict[str, Any] = {"security_group_id": group, "direction": "ingress",
                                "ethertype": "IPv4", "remote_group_id": remote}  # fmt: skip
        if port is not None:
            body.update(protocol="tcp", port_range_min=port, port_range_max=port)
        return str(self.post("/security-group-rules", {"security_group_rule": body})[
            "security_group_rule"]["id"])  # fmt: skip

    def port_body(self, h: int, n: int, big: bool = False) -> dict[str, Any]:
        groups = [self.groups[n]] + ([self.big] if big else [])
        return {"network_id": self.nets[n], "binding:host_id": self.layout.host(h),
                "device_owner": "compute:sim", "security_groups": groups}  # fmt: skip

    def _ports(self) -> None:
        lay = self.layout
        per_host = max(1, lay.ports // lay.hosts)
        big_hosts = max(1, lay.hosts // 2)
        big_per_host = max(1, lay.big // big_hosts)
        bodies = []
        for h in range(lay.hosts):
            nets = lay.networks_of(h)
            for k in range(per_host):
                big = h < big_hosts and k < big_per_host
                bodies.append(self.port_body(h, nets[k % 2], big))
        for start in range(0, len(bodies), 100):
            self.post("/ports", {"ports": bodies[start : start + 100]})


@dataclass
class Change:
    kind: str
    key: str
    """The id of the object whose events mark the change."""
    started: float
    cpu: float
    """API servers' CPU seconds when it was made."""


@dataclass
class Outcome:
    kind: str
    all_received: float
    """Seconds from the API call until the last receiver had the event."""
    all_applied: float | None
    per_agent: list[float]
    receivers: int
    needed: int
    events: int
    bytes: int
    cpu: float
    missing: int


class Workers:
    def __init__(self, layout: Layout, count: int, urls: list[str], password: str,
                 state: Path) -> None:  # fmt: skip
        ctx = mp.get_context("spawn")
        self.pipes: list[Connection] = []
        self.procs = []
        for w in range(count):
            hosts = [(layout.host(i), i) for i in range(w, layout.hosts, count)]
            here, there = ctx.Pipe()
            p = ctx.Process(target=_worker, args=(there, hosts, urls, password, str(state)))
            p.start()
            self.pipes.append(here)
            self.procs.append(p)

    def ask(self, cmd: str, arg: Any = None) -> list[Any]:
        for pipe in self.pipes:
            pipe.send((cmd, arg))
        return [pipe.recv() for pipe in self.pipes]

    def synced(self) -> int:
        return sum(self.ask("synced"))

    def counters(self) -> dict[str, tuple[int, int]]:
        out: dict[str, tuple[int, int]] = {}
        for part in self.ask("counters"):
            out.update(part)
        return out

    def seen(self, key: str) -> dict[str, tuple[float, float | None, int]]:
        out: dict[str, tuple[float, float | None, int]] = {}
        for part in self.ask("seen", key):
            out.update(part)
        return out

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.ask("stop")
        for p in self.procs:
            p.join(10)
            if p.is_alive():
                p.kill()


def wait_synced(workers: Workers, hosts: int, timeout: float, show: bool = False) -> float:
    """Seconds until every agent is in sync; with ``show``, a line on
    stderr every 5 s: agents in sync, and the agents' lists, refused lists,
    errors and passes so far, threads and CPU seconds of their processes."""
    t0 = time.monotonic()
    shown = t0
    while (synced := workers.synced()) < hosts:
        now = time.monotonic()
        if now - t0 > timeout:
            raise RuntimeError(f"only {synced} of {hosts} agents in sync")
        if show and now - shown >= 5:
            shown = now
            scale_progress.show_line(
                now - t0, synced, workers.ask("stats"), sum(workers.ask("cpu"))
            )
        time.sleep(0.2)
    return time.monotonic() - t0


def wait_quiet(workers: Workers, quiet: float = 1.0, timeout: float = 600) -> None:
    """Until no agent received anything for ``quiet`` seconds (bookmarks aside)."""
    deadline = time.monotonic() + timeout
    last = workers.counters()
    still = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = workers.counters()
        if {h: e for h, (e, _) in now.items()} != {h: e for h, (e, _) in last.items()}:
            last, still = now, time.monotonic()
        elif time.monotonic() - still >= quiet:
            return


def measure(workers: Workers, servers: list[Server], change: Change, settle: float) -> Outcome:
    """Waits until every agent that received ``change`` applied it, and no
    more came for ``settle`` seconds; then what it cost."""
    deadline = change.started + 60
    before = -1
    steady = time.monotonic()
    while True:
        time.sleep(0.1)
        seen = workers.seen(change.key)
        done = all(applied is not None for _, applied, _ in seen.values())
        if len(seen) != before:
            before, steady = len(seen), time.monotonic()
        if (done and time.monotonic() - steady >= settle) or time.monotonic() > deadline:
            break
    wait_quiet(workers, quiet=0.5)
    cpu = sum(s.cpu_seconds() for s in servers) - change.cpu
    applied = [a - change.started for _, a, _ in seen.values() if a is not None]
    return Outcome(
        kind=change.kind,
        all_received=max((r - change.started for r, _, _ in seen.values()), default=0.0),
        all_applied=max(applied) if applied and len(applied) == len(seen) else None,
        per_agent=applied,
        receivers=len(seen),
        needed=sum(1 for _, a, c in seen.values() if a is not None and c > 0),
        events=0,
        bytes=0,
        cpu=cpu,
        missing=sum(1 for _, a, _ in seen.values() if a is None),
    )


def one_change(workers: Workers, servers: list[Server], cloud: Cloud, kind: str,
               rng: random.Random, settle: float) -> Outcome:  # fmt: skip
    lay = cloud.layout
    workers.ask("clear")
    counters = workers.counters()
    cpu = sum(s.cpu_seconds() for s in servers)
    started = time.monotonic()
    if kind == "port create":
        h = rng.randrange(lay.hosts)
        n = rng.choice(lay.networks_of(h))
        key = cloud.post("/ports", {"port": cloud.port_body(h, n)})["port"]["id"]
    elif kind == "rule create":
        n = rng.randrange(lay.networks)
        key = cloud.groups[n]
        cloud.rule(key, cloud.groups[n], port=rng.randrange(1024, 65000))
    else:  # a member joins the big group, on a host that holds some already
        h = rng.randrange(max(1, lay.hosts // 2))
        n = rng.choice(lay.networks_of(h))
        key = cloud.post("/ports", {"port": cloud.port_body(h, n, big=True)})["port"]["id"]
    out = measure(workers, servers, Change(kind, key, started, cpu), settle)
    after = workers.counters()
    out.events = sum(after[h][0] - counters[h][0] for h in after)
    out.bytes = sum(after[h][1] - counters[h][1] for h in after)
    return out


@contextlib.contextmanager
def postgresql(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    where = Path(tempfile.mkdtemp(prefix="kumo-scale-pg-"))
    port = str(55000 + os.getpid() % 4000)
    script = str(ROOT / "scripts" / "pg.sh")
    try:
        started = subprocess.run(["bash", script, "start", str(where), port],
                                 check=True, capture_output=True, text=True)  # fmt: skip
        yield started.stdout.strip()
    finally:
        subprocess.run(["bash", script, "stop", str(where)], capture_output=True)
        shutil.rmtree(where, ignore_errors=True)


def _project(server: Server) -> str:
    token = server.token()
    r = httpx.get(f"{server.base}/identity/v3/auth/projects", headers={"X-Auth-Token": token})
    return str(next(p["id"] for p in r.json()["projects"] if p["name"] == "admin"))


@dataclass
class Fanout:
    """``agent`` events all agents received: during the start (each agent
    registering and reporting ready), per readiness heartbeat, and during
    the restart storm."""

    start: int = 0
    beats: int = 0
    beat_events: int = 0
    storm: int = 0
    start_lists: int = 0
    """Lists the agents made from their start until all were in sync."""
    storm_lists: int = 0


def agent_events(workers: Workers) -> int:
    return sum(workers.ask("agent events"))


def beat_fanout(workers: Workers, quiet: float) -> tuple[int, int]:
    """(heartbeats sent, ``agent`` events the agents received for them)."""
    before = agent_events(workers)
    beats = sum(workers.ask("beat"))
    wait_quiet(workers, quiet=quiet)
    return beats, agent_events(workers) - before


@dataclass
class Report:
    layout: Layout
    setup: float
    first_sync: float
    outcomes: list[Outcome]
    storm: float
    storm_cpu: float
    fanout: Fanout = field(default_factory=Fanout)
    held: dict[str, int] = field(default_factory=dict)
    start_cpu: float = 0.0
    """The agents' processes' CPU seconds from their start until all were in sync."""
    storm_agents_cpu: float = 0.0
    """The agents' processes' CPU seconds during the restart storm."""
    start_gc: float = 0.0
    """Wall seconds the agents' processes spent in garbage collections in the start."""
    storm_gc: float = 0.0
    """The same in the restart storm."""

    def by_kind(self, kind: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.kind == kind]


def run(layout: Layout, *, workers: int, changes: int, database_url: str | None = None,
        settle: float = 0.5, quiet: float = 2.0, heartbeat: float = 30.0,
        agents_nice: int = 0, progress: bool = False,
        log: Callable[[str], None] = print) -> Report:  # fmt: skip
    """The whole benchmark; ``database_url``: an empty PostgreSQL database
    (or SQLite file URL) instead of a throwaway PostgreSQL."""
    os.environ["KUMO_SCALE_HEARTBEAT"] = str(heartbeat)
    os.environ["KUMO_AGENT_DOWN_TIME"] = str(int(heartbeat * 4))
    os.environ["KUMO_SCALE_AGENTS_NICE"] = str(agents_nice)
    rng = random.Random(25)
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(postgresql(database_url))
        first = stack.enter_context(kumo_server(url, extra=("--no-metrics",)))
        second = stack.enter_context(kumo_server(url, extra=("--no-metrics",)))
        servers = [first, second]
        log(f"API servers {first.base} {second.base} on {url.split('@')[-1]}")
        t0 = time.monotonic()
        cloud = Cloud(first, layout)
        cloud.build(_project(first))
        setup = time.monotonic() - t0
        log(f"cloud built in {setup:.1f} s")
        state = Path(tempfile.mkdtemp(prefix="kumo-scale-agents-"))
        stack.callback(shutil.rmtree, state, True)
        pool = Workers(layout, workers, [first.base, second.base], first.admin_password, state)
        stack.callback(pool.close)

        def roles_now() -> tuple[dict[str, float], float]:
            return scale_progress.cpu_roles(pool.ask("roles"))

        t0 = time.monotonic()
        agents_cpu = sum(pool.ask("cpu"))
        roles = roles_now() if progress else None
        pool.ask("start")
        first_sync = wait_synced(pool, layout.hosts, timeout=1800, show=progress)
        start_cpu = sum(pool.ask("cpu")) - agents_cpu
        start_gc = sum(pool.ask("gc"))
        if roles is not None:
            scale_progress.show_roles("start", roles, roles_now(), layout.hosts)
            scale_progress.show_warnings("start", pool.ask("warnings"))
        log(f"{layout.hosts} agents in sync {first_sync:.1f} s after start")
        wait_quiet(pool, quiet=quiet)
        log(f"quiet {time.monotonic() - t0:.1f} s after start")
        fanout = Fanout(start=agent_events(pool), start_lists=sum(pool.ask("lists")))
        fanout.beats, fanout.beat_events = beat_fanout(pool, quiet)
        log(f"{fanout.beats} readiness heartbeats: {fanout.beat_events} agent events delivered")
        outcomes: list[Outcome] = []
        for kind, count in (("port create", changes), ("rule create", changes),
                            ("big group member", max(1, changes // 2))):  # fmt: skip
            for _ in range(count):
                outcomes.append(one_change(pool, servers, cloud, kind, rng, settle))
            done = [o.all_applied for o in outcomes if o.kind == kind and o.all_applied]
            log(f"{kind}: {len(done)} changes, all applied p50 {percentile(done, 50):.3f} s")
        cpu = sum(s.cpu_seconds() for s in servers)
        agents_cpu = sum(pool.ask("cpu"))
        agents_gc = sum(pool.ask("gc"))
        roles = roles_now() if progress else None
        t0 = time.monotonic()
        pool.ask("restart")  # returns once the new agents have started: part of the storm
        wait_synced(pool, layout.hosts, timeout=1800, show=progress)
        storm = time.monotonic() - t0
        storm_cpu = sum(s.cpu_seconds() for s in servers) - cpu
        storm_agents_cpu = sum(pool.ask("cpu")) - agents_cpu
        storm_gc = sum(pool.ask("gc")) - agents_gc
        if roles is not None:
            scale_progress.show_roles("storm", roles, roles_now(), layout.hosts)
            scale_progress.show_warnings("start and storm", pool.ask("warnings"))
        log(f"restart storm: all in sync after {storm:.1f} s")
        wait_quiet(pool, quiet=quiet)
        fanout.storm = agent_events(pool)  # the new agents' counters start at zero
        fanout.storm_lists = sum(pool.ask("lists"))
        return Report(layout, setup, first_sync, outcomes, storm, storm_cpu, fanout,
                      start_cpu=start_cpu, storm_agents_cpu=storm_agents_cpu,
                      start_gc=start_gc, storm_gc=storm_gc)  # fmt: skip


def render(report: Report, command: str) -> str:
    lay = report.layout
    lines = [
        f"# bench/scale.py  {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC  {machine()}",
        f"# {command}",
        f"{lay.hosts} agents, {lay.ports} ports, {lay.networks} networks, "
        f"{lay.networks // 2} routers, {lay.networks + 1} security groups "
        f"(big one: {lay.big} members); 2 API servers",
        f"cloud built in {report.setup:.0f} s; all agents in sync {report.first_sync:.1f} s "
        f"after they started (agents' CPU {report.start_cpu:.1f} s, "
        f"{report.start_cpu / lay.hosts * 1e3:.0f} ms per agent; in garbage collections "
        f"{report.start_gc:.1f} s of wall time)",
        "change              n   all received p50/p99 (s)   all applied p50/p99/max (s)"
        "   per agent p50/p99 (s)   agents (had work)   events   KiB   API CPU ms",
    ]
    for kind in ("port create", "rule create", "big group member"):
        outs = report.by_kind(kind)
        if not outs:
            continue
        alls = [o.all_applied for o in outs if o.all_applied is not None]
        per = [v for o in outs for v in o.per_agent]
        got = [o.all_received for o in outs]
        lines.append(
            f"{kind:18s} {len(outs):3d}   {percentile(got, 50):.3f} / {percentile(got, 99):.3f}"
            f"              {percentile(alls, 50):.3f} / {percentile(alls, 99):.3f} / {max(alls or [0]):.3f}"
            f"            {percentile(per, 50):.3f} / {percentile(per, 99):.3f}"
            f"        {statistics.fmean(o.receivers for o in outs):6.1f} "
            f"({statistics.fmean(o.needed for o in outs):6.1f})"
            f"   {statistics.fmean(o.events for o in outs):6.0f}"
            f"   {statistics.fmean(o.bytes for o in outs) / 1024:5.0f}"
            f"   {statistics.fmean(o.cpu for o in outs) * 1000:6.0f}"
            + (f"   ({sum(o.missing for o in outs)} never applied)" if any(o.missing for o in outs) else "")
        )  # fmt: skip
    lines.append(
        f"restart storm: {lay.hosts} agents replaced at once, all in sync after "
        f"{report.storm:.1f} s (API CPU {report.storm_cpu:.1f} s; agents' CPU "
        f"{report.storm_agents_cpu:.1f} s, {report.storm_agents_cpu / lay.hosts * 1e3:.0f} ms "
        f"per agent; in garbage collections {report.storm_gc:.1f} s of wall time)"
    )
    fan = report.fanout
    per_beat = fan.beat_events / max(1, fan.beats)
    lines.append(
        f"agent events received, all agents: start {fan.start} ({fan.start / lay.hosts:.1f} per "
        f"agent), {fan.beats} readiness heartbeats {fan.beat_events} ({per_beat:.2f} per beat), "
        f"restart storm {fan.storm} ({fan.storm / lay.hosts:.1f} per agent)"
    )
    lines.append(
        f"lists per agent: start {fan.start_lists / lay.hosts:.2f}, "
        f"restart storm {fan.storm_lists / lay.hosts:.2f}"
    )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--ports", type=int, default=10000)
    ap.add_argument("--networks", type=int, default=100)
    ap.add_argument("--big", type=int, default=1000, help="members of the big group")
    ap.add_argument("--workers", type=int, default=4, help="processes holding the agents")
    ap.add_argument("--changes", type=int, default=20, help="changes measured of each kind")
    ap.add_argument("--heartbeat", type=float, default=30.0)
    ap.add_argument("--database-url", default=None, help="default: a throwaway PostgreSQL")
    ap.add_argument(
        "--agents-nice", type=int, default=10,
        help="niceness of the agents' processes (0: compete with the servers for the cores)",
    )  # fmt: skip
    ap.add_argument(
        "--progress",
        action="store_true",
        help="every 5 s of the start and the storm, a line of counts on stderr",
    )
    args = ap.parse_args()
    layout = Layout(args.hosts, args.ports, args.networks, args.big)
    report = run(layout, workers=args.workers, changes=args.changes,
                 database_url=args.database_url, heartbeat=args.heartbeat,
                 agents_nice=args.agents_nice, progress=args.progress)  # fmt: skip
    command = "python -m bench.scale " + " ".join(
        f"--{k.replace('_', '-')} {v}"
        for k, v in vars(args).items()
        if v is not None and not isinstance(v, bool)
    )
    print(render(report, command))


if __name__ == "__main__":
    main()
