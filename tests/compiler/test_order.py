"""Order independence: the plan depends on the objects, never on the order
the watch feed delivered them in (Felix-style replays: permuted, reversed,
and squashed state sequences through an agent-like cache)."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from kumo.compiler import ClusterView, compile_host
from kumo.compiler.plan import HostPlan
from tests.compiler import states as s

Event = tuple[str, str, str, dict[str, Any]]  # (op, kind, key, body)
HOSTS = ("host-a", "host-b", "host-c")


class Cache:
    """What an agent holds: the latest body per kind and id."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, dict[str, Any]]] = {
            k: {} for k in ("network", "subnet", "port", "agent")
        }

    def feed(self, events: list[Event]) -> None:
        for op, kind, key, body in events:
            if op == "upsert":
                self.objects[kind][key] = body
            else:
                self.objects[kind].pop(key, None)

    def plan(self, host: str) -> HostPlan:
        o = self.objects
        view = ClusterView.from_bodies(o["network"], o["subnet"], o["port"], o["agent"])
        return compile_host(host, view)


def _key(kind: str, body: dict[str, Any]) -> str:
    return str(body["host"] if kind == "agent" else body["id"])


def upserts(state: s.State) -> list[Event]:
    return [("upsert", kind, _key(kind, body), body) for kind, body in state.objects()]


def transition(old: s.State, new: s.State) -> list[Event]:
    """Events that turn a cache holding ``old`` into one holding ``new``."""
    before = {(k, _key(k, b)): b for k, b in old.objects()}
    after = {(k, _key(k, b)): b for k, b in new.objects()}
    events: list[Event] = [
        ("delete", k, key, before[(k, key)]) for (k, key) in before if (k, key) not in after
    ]
    events += [("upsert", k, key, b) for (k, key), b in after.items() if before.get((k, key)) != b]
    return events


def fresh(state: s.State, host: str) -> HostPlan:
    cache = Cache()
    cache.feed(upserts(state))
    return cache.plan(host)


@pytest.mark.parametrize("state", s.STATES, ids=lambda st: st.name)
@pytest.mark.parametrize("host", HOSTS)
def test_reversed_and_shuffled_delivery_give_the_same_plan(state: s.State, host: str) -> None:
    expected = fresh(state, host)
    events = upserts(state)
    orders = [list(reversed(events))] + [
        random.Random(seed).sample(events, len(events)) for seed in range(12)
    ]
    for order in orders:
        cache = Cache()
        cache.feed(order)
        assert cache.plan(host) == expected


def test_every_permutation_of_a_small_state() -> None:
    events = upserts(s.LOCAL_AND_REMOTE)
    assert len(events) <= 7
    expected = fresh(s.LOCAL_AND_REMOTE, "host-a")
    for order in itertools.permutations(events):
        cache = Cache()
        cache.feed(list(order))
        assert cache.plan("host-a") == expected


@pytest.mark.parametrize("host", HOSTS)
def test_state_sequences_forward_reversed_and_squashed(host: str) -> None:
    """Walking through every state (in order, reversed, and by random jumps)
    ends with the plan of the last state compiled from scratch."""
    sequences = [list(s.STATES), list(reversed(s.STATES))]
    rng = random.Random(7)
    sequences += [rng.sample(list(s.STATES), len(s.STATES)) for _ in range(4)]
    for sequence in sequences:
        cache = Cache()
        previous = s.State("start")
        for state in sequence:
            events = transition(previous, state)
            rng.shuffle(events)
            cache.feed(events)
            assert cache.plan(host) == fresh(state, host), (previous.name, state.name)
            previous = state
        # squashed: jump from nothing straight to the last state
        squashed = Cache()
        squashed.feed(transition(s.State("start"), sequence[-1]))
        assert squashed.plan(host) == cache.plan(host)


def test_port_before_its_network_is_compiled_once_the_network_arrives() -> None:
    cache = Cache()
    events = upserts(s.ONE_LOCAL)
    ports = [e for e in events if e[1] == "port"]
    rest = [e for e in events if e[1] != "port"]
    cache.feed(ports)
    assert cache.plan("host-a") == HostPlan(host="host-a")
    cache.feed(rest)
    assert cache.plan("host-a") == fresh(s.ONE_LOCAL, "host-a")


def test_port_moving_between_hosts() -> None:
    moved = s.LOCAL_AND_REMOTE.with_("p1 moved", ports=())
    moved = s.State(
        "p1 on host-c",
        networks=moved.networks,
        subnets=moved.subnets,
        agents=moved.agents,
        ports=(
            s.port(s.P1, s.NET1, "fa:16:3e:00:00:01", "host-c", [("s1", "10.0.0.11")]),
            s.LOCAL_AND_REMOTE.ports[1],
        ),
    )
    cache = Cache()
    cache.feed(upserts(s.LOCAL_AND_REMOTE))
    cache.feed(transition(s.LOCAL_AND_REMOTE, moved))
    assert cache.plan("host-a") == HostPlan(host="host-a")
    lines_b = cache.plan("host-b").describe()
    assert "fdb host kx1f0e2d3c4b5 fa:16:3e:00:00:01 self dst 192.0.2.13" in lines_b
    assert not any("192.0.2.11" in line for line in lines_b)
