"""The agent loop against a live API, with a recording applier in place of the kernel."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from kumo.agent.config import AgentConfig, Credentials
from kumo.agent.loop import Agent
from kumo.compiler.plan import HostPlan
from tests.live import LiveServer

pytestmark = pytest.mark.slow
OPENSTACK = str(Path(sys.executable).parent / "openstack")


@dataclass(frozen=True)
class Result:
    ok: bool
    wired_ports: frozenset[str]
    retry_after: float | None = None
    changes: int = 0


class RecordingApplier:
    """Wires every port the plan asks for; remembers each plan and when it came."""

    def __init__(self) -> None:
        self.plans: list[tuple[float, HostPlan]] = []
        self.lock = threading.Lock()
        self.resyncs = 0
        self.before_guests: Callable[[frozenset[str]], None] | None = None

    def apply(self, plan: HostPlan) -> Result:
        with self.lock:
            self.plans.append((time.monotonic(), plan))
        return Result(ok=True, wired_ports=frozenset(w.port_id for w in plan.wiring))

    def retry(self) -> Result:
        return self.apply(self.plans[-1][1])

    def resync(self, rolling: bool = False) -> None:
        self.resyncs += 1

    @property
    def rolling(self) -> bool:
        return False

    def close(self) -> None:
        pass

    def wired_now(self) -> frozenset[str]:
        with self.lock:
            if not self.plans:
                return frozenset()
            return frozenset(w.port_id for w in self.plans[-1][1].wiring)


class StallingApplier(RecordingApplier):
    """Hands a pass's wired ports to the agent's hook, then stalls as if
    its guests took long to start, until released."""

    def __init__(self) -> None:
        super().__init__()
        self.stalled = threading.Event()
        self.release = threading.Event()

    def apply(self, plan: HostPlan) -> Result:
        result = super().apply(plan)
        if plan.wiring and self.before_guests is not None:
            self.before_guests(result.wired_ports)
            self.stalled.set()
            self.release.wait(20)
        return result


def _wait(cond: Any, timeout: float = 10.0) -> float:
    start = time.monotonic()
    while not cond():
        assert time.monotonic() - start < timeout, "timed out"
        time.sleep(0.01)
    return time.monotonic() - start


def _agent(
    server: LiveServer,
    host: str,
    applier: RecordingApplier,
    debounce: float = 0.02,
    heartbeat: float = 0.5,
) -> Agent:
    config = AgentConfig(
        host=host,
        api_url=server.base,
        credentials=Credentials(
            auth_url=f"{server.base}/identity/v3",
            username="admin",
            password=server.admin_password,
            project_name="admin",
        ),
        tunnel_ip="192.0.2.50",
        heartbeat_interval=heartbeat,
        state_dir=Path(server.state_dir) / "agents",
        debounce=debounce,
    )
    return Agent(config, applier)


def _network(server: LiveServer, name: str, cidr: str) -> tuple[httpx.Client, dict[str, Any]]:
    """A Neutron client, and a network with one IPv4 subnet."""
    api = httpx.Client(
        base_url=f"{server.base}/networking/v2.0",
        headers={"X-Auth-Token": server.token()},
        timeout=30,
    )
    net: dict[str, Any] = api.post("/networks", json={"network": {"name": name}}).json()["network"]
    api.post(
        "/subnets",
        json={"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": cidr}},
    )
    return api, net


def test_port_lifecycle_reaches_the_agent_and_status_comes_back(live_server: LiveServer) -> None:
    api, net = _network(live_server, "ag", "10.3.0.0/24")
    applier = RecordingApplier()
    agent = _agent(live_server, "hostA", applier)
    agent.start()
    try:
        _wait(lambda: agent.synced.is_set())
        agents = httpx.get(
            f"{live_server.base}/networking/v2.0/agents",
            headers={"X-Auth-Token": live_server.token()},
        ).json()["agents"]
        assert [(a["host"], a["alive"]) for a in agents] == [("hostA", True)]
        cli = subprocess.run(
            [OPENSTACK, "network", "agent", "list", "-f", "json"],
            env=live_server.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert cli.returncode == 0, cli.stderr
        listed = json.loads(cli.stdout)
        assert [(a["Host"], a["Alive"]) for a in listed] == [("hostA", True)]

        port = api.post(
            "/ports", json={"port": {"network_id": net["id"], "binding:host_id": "hostA"}}
        ).json()["port"]
        assert port["status"] == "DOWN"
        took = _wait(lambda: port["id"] in applier.wired_now())
        assert took < 1.0, f"event took {took:.3f}s to reach the agent"
        _wait(lambda: api.get(f"/ports/{port['id']}").json()["port"]["status"] == "ACTIVE")

        # A port on the same network bound to another host with a VTEP becomes
        # part of this host's plan (its FDB and neighbour entries).
        httpx.post(
            f"{live_server.base}/internal/v1/agents",
            headers={"X-Auth-Token": live_server.token()},
            json={"agent": {"host": "hostB", "configurations": {"tunnel_ip": "192.0.2.51"}}},
        ).raise_for_status()
        remote = api.post(
            "/ports", json={"port": {"network_id": net["id"], "binding:host_id": "hostB"}}
        ).json()["port"]
        _wait(
            lambda: any(remote["mac_address"] in line for line in applier.plans[-1][1].describe())
        )

        api.delete(f"/ports/{port['id']}")
        _wait(lambda: port["id"] not in applier.wired_now())
    finally:
        agent.stop()

    # Deleted while the agent was down: a fresh agent never wires it. And a
    # port that stayed is in the very first plan the restarted agent applies
    # (a first plan without it would tear down a wired instance).
    kept = api.post(
        "/ports", json={"port": {"network_id": net["id"], "binding:host_id": "hostA"}}
    ).json()["port"]
    again = RecordingApplier()
    port2 = api.post(
        "/ports", json={"port": {"network_id": net["id"], "binding:host_id": "hostA"}}
    ).json()["port"]
    api.delete(f"/ports/{port2['id']}")
    restarted = _agent(live_server, "hostA", again)
    restarted.start()
    try:
        _wait(lambda: restarted.synced.is_set())
        assert again.wired_now() == frozenset({kept["id"]})
        first_plan = again.plans[0][1]
        assert {w.port_id for w in first_plan.wiring} == {kept["id"]}
    finally:
        restarted.stop()

    # Nothing changed while down: the next start lists once, from its
    # predecessor's topics, instead of once per layer its ports reveal.
    third = _agent(live_server, "hostA", RecordingApplier())
    third.start()
    try:
        _wait(lambda: third.synced.is_set())
        assert third.stats["relists"] == 1
    finally:
        third.stop()


def _quiet(applier: RecordingApplier, spell: float, timeout: float = 30.0) -> None:
    """Wait until the agent has applied nothing for ``spell`` seconds (the
    port status it reports after a pass is a change it sees, too)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with applier.lock:
            last = applier.plans[-1][0] if applier.plans else 0.0
        idle = time.monotonic() - last
        if idle >= spell:
            return
        time.sleep(spell - idle)
    raise AssertionError(f"the agent never stayed idle for {spell}s")


def _create_port(api: Any, network_id: str, host: str) -> str:
    body = {"port": {"network_id": network_id, "binding:host_id": host}}
    port_id: str = api.post("/ports", json=body).json()["port"]["id"]
    return port_id


def _plans_with(applier: RecordingApplier, port_id: str) -> list[HostPlan]:
    """The plans the applier was given that wire ``port_id``."""
    with applier.lock:
        plans = [p for _, p in applier.plans]
    return [p for p in plans if port_id in {w.port_id for w in p.wiring}]


def test_a_quiet_agent_starts_at_once_and_a_busy_one_coalesces(live_server: LiveServer) -> None:
    """After a quiet spell a change is compiled without waiting out the
    debounce; a change that comes right after a pass waits it out, and what
    comes meanwhile lands in the same pass."""
    api, net = _network(live_server, "db", "10.4.0.0/24")
    applier = RecordingApplier()
    # (heartbeats change the agent's own object, which wakes it: none here)
    agent = _agent(live_server, "hostD", applier, debounce=2.0, heartbeat=60)
    agent.start()

    def create() -> str:
        return _create_port(api, net["id"], "hostD")

    def plans_with(port_id: str) -> list[HostPlan]:
        return _plans_with(applier, port_id)

    try:
        _wait(lambda: agent.synced.is_set())
        # The host's first port on the network brings the network's topic
        # in (a relist, then a second pass): done before measuring.
        warm = create()
        _wait(lambda: bool(plans_with(warm)), timeout=15)
        _quiet(applier, 2.5)  # no pass for longer than the debounce
        single = create()
        took = _wait(lambda: bool(plans_with(single)))
        assert took < 1.5, f"a single change waited {took:.2f}s"
        _quiet(applier, 2.5)
        first = create()
        _wait(lambda: bool(plans_with(first)))
        second, third = create(), create()  # right after that pass: coalesced
        _wait(lambda: bool(plans_with(third)), timeout=15)
        assert all(second in {w.port_id for w in p.wiring} for p in plans_with(third))
        assert plans_with(second)[0] is plans_with(third)[0]
    finally:
        agent.stop()


class SlicingApplier(RecordingApplier):
    """A rolling resync of ``slices`` passes, set by the test."""

    def __init__(self) -> None:
        super().__init__()
        self.slices = 0
        self.slice_ends: list[float] = []

    def apply(self, plan: HostPlan) -> Result:
        result = super().apply(plan)
        if self.slices:
            self.slices -= 1
            self.slice_ends.append(time.monotonic())
        return result

    @property
    def rolling(self) -> bool:
        return self.slices > 0


def test_a_change_after_a_resync_slice_is_not_held_back(live_server: LiveServer) -> None:
    """A slice of a rolling resync changes nothing: a change that comes
    right after it starts a pass at once, not after the debounce; the next
    slice waits a debounce after it."""
    api, net = _network(live_server, "sl", "10.6.0.0/24")
    applier = SlicingApplier()
    agent = _agent(live_server, "hostS", applier, debounce=2.0, heartbeat=60)
    agent.start()

    def create() -> str:
        return _create_port(api, net["id"], "hostS")

    def plans_with(port_id: str) -> list[HostPlan]:
        return _plans_with(applier, port_id)

    try:
        _wait(lambda: agent.synced.is_set())
        warm = create()
        _wait(lambda: bool(plans_with(warm)), timeout=15)
        _quiet(applier, 2.5)  # no pass for longer than the debounce
        applier.slices = 3
        agent.dirty.set()  # the resync's first slice
        _wait(lambda: len(applier.slice_ends) == 1)
        port = create()
        took = _wait(lambda: bool(plans_with(port)))
        assert took < 1.5, f"a change after a slice waited {took:.2f}s"
        _wait(lambda: len(applier.slice_ends) == 3, timeout=15)
        assert applier.slice_ends[2] - applier.slice_ends[1] >= 1.9  # a debounce apart
    finally:
        agent.stop()


def test_ports_turn_active_before_their_guests_start(live_server: LiveServer) -> None:
    """The agent reports a port ACTIVE from within the pass, as soon as its
    host side is wired: a slow guest start does not hold the status back."""
    api, net = _network(live_server, "gs", "10.5.0.0/24")
    applier = StallingApplier()
    agent = _agent(live_server, "hostG", applier)
    agent.start()
    try:
        _wait(lambda: agent.synced.is_set())
        body = {"port": {"network_id": net["id"], "binding:host_id": "hostG"}}
        port = api.post("/ports", json=body).json()["port"]
        _wait(applier.stalled.is_set)
        # while the pass is still stalled in its guests
        _wait(lambda: api.get(f"/ports/{port['id']}").json()["port"]["status"] == "ACTIVE")
    finally:
        applier.release.set()
        agent.stop()


def test_an_agent_moves_to_another_api_server_without_relisting(live_server: LiveServer) -> None:
    """Two API servers on one database; the agent's first one dies mid-stream
    (killed): the agent watches on from its revision on the other, and
    every change reaches it once, none lost."""
    from tests.live import KUMO, _free_port

    port = _free_port()
    state = live_server.state_dir.parent / f"failover-{port}"
    state.mkdir()
    first = subprocess.Popen(
        [KUMO, "serve", "--state-dir", str(state), "--port", str(port),
         "--database-url", live_server.database_url],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    doomed = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: _healthy(doomed), timeout=120)
        api, net = _network(live_server, "fo", "10.7.0.0/24")
        applier = RecordingApplier()
        agent = _agent(live_server, "hostF", applier)
        agent.config = replace(agent.config, api_url=f"{doomed},{live_server.base}")
        agent.client = type(agent.client)(agent.config)
        seen: list[tuple[int, str]] = []
        apply = agent.cache.apply

        def recording(event: dict[str, Any]) -> bool:
            if event.get("kind") == "port" and event.get("op") != "delete":
                seen.append((int(event["revision"]), str(event["object"]["id"])))
            return apply(event)

        agent.cache.apply = recording  # type: ignore[method-assign]
        agent.start()
        try:
            _wait(lambda: agent.synced.is_set(), timeout=30)
            made = [_bound(api, net, "hostF")]
            _wait(lambda: made[0] in applier.wired_now())
            assert agent.client.base == doomed
            relists = agent.stats["relists"]
            first.kill()
            first.wait(10)
            made += [_bound(api, net, "hostF") for _ in range(4)]
            _wait(lambda: set(made) <= applier.wired_now(), timeout=30)
            assert agent.client.base == live_server.base
            assert agent.stats["relists"] == relists  # watched on, not relisted
            created = [r for r in seen if r[1] in made]
            assert len({r[0] for r in created}) == len(created)  # none twice
            assert {r[1] for r in created} == set(made)  # each came as an event
        finally:
            agent.stop()
    finally:
        first.kill()
        first.wait(10)


def _healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _bound(api: httpx.Client, net: dict[str, Any], host: str) -> str:
    body = {"port": {"network_id": net["id"], "binding:host_id": host}}
    return str(api.post("/ports", json=body).json()["port"]["id"])
