"""Liveness beats go among the gateway hosts of HA routers and a few witnesses only."""

from __future__ import annotations

from kumo.ha.beatgroup import beat_group
from kumo.ha.liveness import Heard, Liveness, LivenessSettings
from kumo.ha.seal import ClusterKey

KEY = ClusterKey(bytes(range(32)))
HOSTS = [f"h{i:04d}" for i in range(1000)]
IPS = {h: f"10.{i // 250}.{i % 250}.1" for i, h in enumerate(HOSTS)}
GATEWAYS = ("h0500", "h0501", "h0502", "h0503")
ROUTERS = {f"r{i}": (GATEWAYS[i % 4], GATEWAYS[(i + 1) % 4]) for i in range(40)}


def _configured(host: str) -> Liveness:
    live = Liveness(host, IPS[host], key=KEY)
    live.configure(IPS, ROUTERS)
    return live


def test_a_thousand_hosts_send_beats_only_within_the_group() -> None:
    group = beat_group(HOSTS, ROUTERS)
    assert group == {*GATEWAYS, "h0000", "h0001", "h0002"}  # three witnesses
    lives = {h: _configured(h) for h in HOSTS}
    sent = {h: live.targets() for h, live in lives.items()}
    # 7 members beating to the 6 others: 42 datagrams per interval, not 999,000.
    assert sum(len(t) for t in sent.values()) == 7 * 6
    for h in group:
        assert sorted(sent[h]) == sorted(IPS[o] for o in group if o != h)
    assert all(sent[h] == [] for h in HOSTS if h not in group)


def test_a_host_outside_the_group_decides_nothing() -> None:
    live = _configured("h0999")
    live._evaluate(1000.0)
    assert live.active() == {} and live.states() == {}


def test_quorum_counts_the_group_not_every_host() -> None:
    s = LivenessSettings()
    live = Liveness("h0500", IPS["h0500"], s, key=KEY, clock=lambda: 0.0)
    live.configure(IPS, ROUTERS)
    # Hearing 3 of the 6 others is a majority of the group of 7 (with itself) ...
    for now in (10.0, 10.0 + 2 * s.hold + 0.01):  # quorum gained: it listens first
        for h in ("h0501", "h0000", "h0001"):
            live._state.last[h] = now
            live._state.heard[h] = Heard(True, {})
        live._evaluate(now)
    assert live._state.quorum
    assert live.states()["r0"] == "active"  # ranked first for r0, nobody claims it
    # ... 2 of them is not.
    del live._state.last["h0001"]
    live._evaluate(now)
    assert not live._state.quorum and live.states()["r0"] == "standby"


def test_hosts_that_see_different_routers_agree_on_the_group() -> None:
    """A compute host's view holds only the routers of its networks; the
    gateway marks every host sees make its group the gateway hosts' one."""
    marked = set(GATEWAYS)
    seen_by_gateway = beat_group(HOSTS, ROUTERS, marked=marked)
    seen_by_compute = beat_group(HOSTS, {"r0": ROUTERS["r0"]}, marked=marked)
    seen_with_none = beat_group(HOSTS, {}, marked=marked)
    assert seen_by_gateway == seen_by_compute == seen_with_none
    witness = Liveness("h0001", IPS["h0001"], key=KEY)
    witness.configure(IPS, {"r0": ROUTERS["r0"]}, marked)
    assert sorted(witness.targets()) == sorted(IPS[h] for h in seen_by_gateway if h != "h0001")


def test_no_gateway_host_no_beats() -> None:
    assert beat_group(HOSTS, {}) == frozenset()
    live = Liveness("h0001", IPS["h0001"], key=KEY)
    live.configure(IPS, {})
    assert live.targets() == []
