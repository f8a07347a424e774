"""The liveness rule (who is active) and the beat codec, without sockets."""

from __future__ import annotations

import pytest

from kumo.ha.liveness import Beat, Heard, Liveness, LivenessSettings, decide
from kumo.ha.seal import ClusterKey

R = "router-1"
ROUTERS = {R: ("g1", "g2", "g3")}
ROUTERS_2 = {R: ("g1", "g2")}
KEY = ClusterKey(bytes(range(32)))


def heard(quorum: bool = True, *claims: str, age: float = 10.0) -> Heard:
    return Heard(quorum, {rid: age for rid in claims})


NONE: dict[str, float] = {}


def test_first_eligible_host_takes_an_unclaimed_router() -> None:
    active, claims = decide("g1", ROUTERS, {"g2": heard(), "g3": heard()},
                            eligible_self=True, my_claims=NONE)  # fmt: skip
    assert active == {R: "g1"} and claims == {R}
    # g2 sees the same and claims nothing.
    active, claims = decide("g2", ROUTERS, {"g1": heard(), "g3": heard()},
                            eligible_self=True, my_claims=NONE)  # fmt: skip
    assert active == {R: "g1"} and claims == frozenset()


def test_a_host_that_is_not_a_gateway_agrees_on_the_active_one() -> None:
    active, claims = decide("c1", ROUTERS, {"g2": heard(True, R), "g3": heard()},
                            eligible_self=True, my_claims=NONE)  # fmt: skip
    assert active == {R: "g2"} and claims == frozenset()


def test_the_next_host_takes_over_when_the_active_one_is_silent() -> None:
    # g1 was active; it is no longer heard.
    active, claims = decide("g2", ROUTERS, {"g3": heard()},
                            eligible_self=True, my_claims=NONE)  # fmt: skip
    assert active == {R: "g2"} and claims == {R}


def test_no_preemption_a_returning_host_stays_standby() -> None:
    active, claims = decide("g1", ROUTERS, {"g2": heard(True, R), "g3": heard()},
                            eligible_self=True, my_claims=NONE)  # fmt: skip
    assert active == {R: "g2"} and claims == frozenset()


def test_with_preemption_the_first_ranked_host_takes_it_back() -> None:
    active, claims = decide("g1", ROUTERS, {"g2": heard(True, R), "g3": heard()},
                            eligible_self=True, my_claims=NONE, preempt=True)  # fmt: skip
    assert active == {R: "g1"} and claims == {R}
    # ... and g2, hearing g1 (not yet claiming), yields as well.
    active, claims = decide("g2", ROUTERS, {"g1": heard(), "g3": heard()},
                            eligible_self=True, my_claims={R: 10.0}, preempt=True)  # fmt: skip
    assert active == {R: "g1"} and claims == frozenset()


def test_without_quorum_a_host_claims_nothing_and_is_not_chosen() -> None:
    active, claims = decide("g1", ROUTERS, {}, eligible_self=False, my_claims={R: 10.0})
    assert active == {R: None} and claims == frozenset()
    # Others ignore a host that says it has no quorum.
    active, _ = decide("g3", ROUTERS, {"g1": heard(False, R), "g2": heard()},
                       eligible_self=True, my_claims=NONE)  # fmt: skip
    assert active == {R: "g2"}


def test_of_two_claimants_the_incumbent_keeps_the_router() -> None:
    # g1 (ranked first) thought g2 dead for a moment and claimed too.
    active, claims = decide("g1", ROUTERS, {"g2": heard(True, R, age=30.0), "g3": heard()},
                            eligible_self=True, my_claims={R: 0.05})  # fmt: skip
    assert active == {R: "g2"} and claims == frozenset()
    active, claims = decide("g2", ROUTERS, {"g1": heard(True, R, age=0.05), "g3": heard()},
                            eligible_self=True, my_claims={R: 30.0})  # fmt: skip
    assert active == {R: "g2"} and claims == {R}


def test_claims_of_the_same_age_resolve_by_rank() -> None:
    active, claims = decide("g3", ROUTERS, {"g2": heard(True, R), "g1": heard()},
                            eligible_self=True, my_claims={R: 10.0})  # fmt: skip
    assert active == {R: "g2"} and claims == frozenset()


def test_beats_round_trip_and_garbage_is_refused() -> None:
    beat = Beat("host-a", 7, True, {R: 1.25, "router-2": 0.0}, leaving=False)
    assert Beat.decode(beat.encode()) == beat
    for junk in (b"", b"{}", b"\xff\xfe", b'{"v": 99, "h": "x", "s": 1, "q": 1, "c": [], "l": 0}',
                 b"[1, 2]"):  # fmt: skip
        with pytest.raises(ValueError):
            Beat.decode(junk)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _hear(live: Liveness, host: str, clock: Clock, *claims: str) -> None:
    live._state.last[host] = clock.now
    live._state.heard[host] = Heard(True, {rid: 1.0 for rid in claims})


def test_quorum_lost_briefly_keeps_claims_lost_long_listens_first() -> None:
    clock = Clock()
    s = LivenessSettings(interval=0.05, hold=0.25, lease=0.2)
    live = Liveness("g1", "192.0.2.1", s, key=KEY, clock=clock)
    live.configure({"g2": "192.0.2.2", "c1": "192.0.2.3"}, ROUTERS_2)
    _hear(live, "g2", clock)
    _hear(live, "c1", clock)
    live._evaluate(clock.now)  # quorum gained at start: listens
    assert live.active() == {R: None}
    clock.now += 2 * s.hold + 0.01
    _hear(live, "g2", clock)
    _hear(live, "c1", clock)
    live._evaluate(clock.now)
    assert live.active() == {R: "g1"} and live.states() == {R: "active"}
    # Late beats (0.22 s: past the lease, within hold): quorum drops, g1 releases ...
    clock.now += 0.22
    live._evaluate(clock.now)
    assert live.states() == {R: "standby"}
    # ... and takes the router back as soon as the beats arrive (no listening).
    _hear(live, "g2", clock)
    _hear(live, "c1", clock)
    live._evaluate(clock.now)
    assert live.states() == {R: "active"}
    # Cut off for a second: on return it listens before claiming anything.
    clock.now += 1.0
    live._evaluate(clock.now)
    assert live.states() == {R: "standby"} and live.active() == {R: None}
    clock.now += 0.01
    _hear(live, "g2", clock, R)
    _hear(live, "c1", clock)
    live._evaluate(clock.now)
    assert live.active() == {R: None}  # listening: its own routers stay closed
    clock.now += 2 * s.hold + 0.01
    _hear(live, "g2", clock, R)
    _hear(live, "c1", clock)
    live._evaluate(clock.now)
    assert live.active() == {R: "g2"} and live.states() == {R: "standby"}  # no preemption
