"""Sealed underlay messages: the envelope, the clock window, replay marks and
what the beat and state sync receivers drop (without sockets)."""

from __future__ import annotations

import logging

import pytest

from kumo.ha import ctsync, seal
from kumo.ha.liveness import Beat, Liveness
from kumo.ha.seal import ClusterKey, Opener, Rejected, Sealer
from kumo.ha.statesync import Standby, StateSync
from tests.ha.test_ctsync import ENTRIES

KEY = ClusterKey(bytes(range(32)))
OTHER = ClusterKey(bytes(range(1, 33)))
T0 = 1_700_000_000 * 10**9
SECOND = 10**9


class Wall:
    """A settable wall clock in nanoseconds."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def take(opener: Opener, data: bytes, stream: str = "host-a") -> bool:
    """Open ``data`` and check its stamp on ``stream``, as a receiver does."""
    return opener.fresh(stream, opener.open(data).stamp)


def reason(opener: Opener, data: bytes) -> str:
    with pytest.raises(Rejected) as caught:
        opener.open(data)
    return caught.value.reason


def test_a_sealed_datagram_opens_with_its_sender_stamp_and_payload() -> None:
    wall = Wall()
    data = Sealer(KEY, "host-a", seal.BEAT, wall=wall).seal(b"payload")
    opened = Opener(KEY, seal.BEAT, wall=wall).open(data)
    assert (opened.sender, opened.stamp, opened.payload) == ("host-a", T0, b"payload")
    assert len(data) == len(b"payload") + Sealer(KEY, "host-a", seal.BEAT).overhead


def test_anything_not_sealed_with_the_key_is_forged() -> None:
    wall = Wall()
    opener = Opener(KEY, seal.BEAT, wall=wall)
    data = Sealer(KEY, "host-a", seal.BEAT, wall=wall).seal(b'{"h":"host-a"}')
    flipped = [data[:i] + bytes([data[i] ^ 1]) + data[i + 1 :] for i in range(len(data))]
    assert {reason(opener, d) for d in flipped} == {"forged"}
    assert reason(opener, data[:-1]) == "forged"
    assert reason(opener, data + b"\0") == "forged"
    assert reason(opener, b"") == "forged"
    assert reason(opener, b'{"v":1,"h":"host-a","s":1,"q":true,"c":{},"l":false}') == "forged"
    # Another key: dropped, and the log names both keys.
    other = Sealer(OTHER, "host-a", seal.BEAT, wall=wall).seal(b"x")
    with pytest.raises(Rejected, match=f"key {OTHER.id.hex()}, not {KEY.id.hex()}"):
        opener.open(other)
    # A sync datagram is never a beat, nor the other way round.
    sync = Sealer(KEY, "host-a", seal.CTSYNC, wall=wall).seal(b"x")
    assert reason(opener, sync) == "forged"
    assert reason(Opener(KEY, seal.CTSYNC, wall=wall), data) == "forged"


def test_stamps_outside_the_window_are_stale() -> None:
    sender, receiver = Wall(), Wall()
    sealer = Sealer(KEY, "host-a", seal.BEAT, wall=sender)
    opener = Opener(KEY, seal.BEAT, window=5.0, wall=receiver)
    data = sealer.seal(b"x")
    receiver.now = T0 + 5 * SECOND  # clocks 5 s apart: still taken
    assert opener.open(data).stamp == T0
    receiver.now = T0 + 5 * SECOND + 1
    assert reason(opener, data) == "stale"
    receiver.now = T0 - 6 * SECOND  # a sender ahead of the receiver
    assert reason(opener, data) == "stale"


def test_a_stamp_is_taken_once_per_stream_and_only_newer_ones_after_it() -> None:
    opener = Opener(KEY, seal.CTSYNC)
    assert opener.fresh(("a", "r1"), 10)
    assert not opener.fresh(("a", "r1"), 10)  # the same datagram again
    assert not opener.fresh(("a", "r1"), 9)  # an older one (or a late one)
    assert opener.fresh(("a", "r2"), 9)  # streams are apart
    assert opener.fresh(("b", "r1"), 9)
    assert opener.fresh(("a", "r1"), 11)


def test_stamps_climb_even_when_the_clock_stands_still_or_steps_back() -> None:
    wall = Wall()
    sealer = Sealer(KEY, "host-a", seal.BEAT, wall=wall)
    opener = Opener(KEY, seal.BEAT, wall=wall)
    for step in (0, 0, -2 * SECOND, 0, 3 * SECOND):
        wall.now += step
        assert take(opener, sealer.seal(b"x"))


def test_a_restarted_sender_is_taken_at_once_its_old_datagrams_are_not() -> None:
    wall = Wall()
    opener = Opener(KEY, seal.BEAT, wall=wall)
    first = Sealer(KEY, "host-a", seal.BEAT, wall=wall)
    old = [first.seal(b"%d" % i) for i in range(3)]
    assert all(take(opener, data) for data in old)
    wall.now += SECOND // 10
    restarted = Sealer(KEY, "host-a", seal.BEAT, wall=wall)  # remembers nothing
    assert take(opener, restarted.seal(b"new"))
    assert not any(take(opener, data) for data in old)


def test_a_sender_restarted_behind_its_old_stamps_is_taken_once_its_clock_passes_them() -> None:
    wall = Wall()
    opener = Opener(KEY, seal.BEAT, wall=wall)
    assert take(opener, Sealer(KEY, "host-a", seal.BEAT, wall=wall).seal(b"x"))
    wall.now -= 2 * SECOND  # its clock stepped back, then it restarted
    restarted = Sealer(KEY, "host-a", seal.BEAT, wall=wall)
    assert not take(opener, restarted.seal(b"x"))
    wall.now += 2 * SECOND + 1
    assert take(opener, restarted.seal(b"x"))


def test_drops_are_counted_and_logged_rarely(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    stats: dict[str, int] = {}
    drops = seal.Drops("g1: beats", stats, every=60.0, clock=lambda: now[0])
    assert stats == dict.fromkeys(seal.REASONS, 0)
    with caplog.at_level(logging.WARNING, logger="kumo.ha"):
        for _ in range(100):
            drops.drop("forged", "192.0.2.9", "bad tag")
            now[0] += 0.1
        drops.drop("replayed", "192.0.2.9", "seen before")
    assert stats["forged"] == 100 and stats["replayed"] == 1
    assert len(caplog.records) == 2  # the first of each reason
    now[0] += 60.0
    with caplog.at_level(logging.WARNING, logger="kumo.ha"):
        drops.drop("forged", "192.0.2.9", "bad tag")
    assert "dropped 100 forged" in caplog.records[-1].getMessage()
    assert len(caplog.records) == 3


# -- the beat receiver -------------------------------------------------------------------

R = "router-1"
IPS = {"g1": "192.0.2.1", "g2": "192.0.2.2", "c1": "192.0.2.3"}


def receiver(wall: Wall) -> Liveness:
    live = Liveness("g1", IPS["g1"], key=KEY, wall=wall)
    live.configure(IPS, {R: ("g1", "g2")})
    return live


def beat(host: str, *claims: str, leaving: bool = False) -> bytes:
    return Beat(host, 1, True, {rid: 100.0 for rid in claims}, leaving).encode()


def test_a_beat_from_a_gateway_host_is_heard() -> None:
    wall = Wall()
    live = receiver(wall)
    g2 = Sealer(KEY, "g2", seal.BEAT, wall=wall)
    assert live.hear(g2.seal(beat("g2", R)), IPS["g2"], 1.0)
    assert live._state.heard["g2"].claims == {R: 100.0}
    assert live.stats["received"] == 1


def test_forged_replayed_and_foreign_beats_are_dropped_and_counted() -> None:
    wall = Wall()
    live = receiver(wall)
    g2 = Sealer(KEY, "g2", seal.BEAT, wall=wall)
    # Forged: no seal (the old wire format), or another key.
    assert not live.hear(beat("g2", R), IPS["g2"], 1.0)
    assert not live.hear(Sealer(OTHER, "g2", seal.BEAT, wall=wall).seal(beat("g2", R)),
                         IPS["g2"], 1.0)  # fmt: skip
    # Replayed: a real beat heard once, then sent again (as a leaving beat
    # replayed would silence g2 each time).
    leaving = g2.seal(beat("g2", leaving=True))
    assert live.hear(leaving, IPS["g2"], 1.0)
    wall.now += SECOND // 20
    assert live.hear(g2.seal(beat("g2")), IPS["g2"], 1.05)
    assert not live.hear(leaving, IPS["g2"], 1.1)
    assert "g2" in live._state.heard
    # Foreign: a name that is no host, a host beating from another host's
    # address, a seal and a body that disagree.
    assert not live.hear(Sealer(KEY, "x9", seal.BEAT, wall=wall).seal(beat("x9")), "192.0.2.9", 1)
    c1 = Sealer(KEY, "c1", seal.BEAT, wall=wall)
    assert not live.hear(c1.seal(beat("c1")), IPS["g2"], 1.1)
    assert not live.hear(c1.seal(beat("g2", R)), IPS["c1"], 1.1)
    # A host that is no gateway of the router: heard, its claim is not.
    assert live.hear(c1.seal(beat("c1", R, "router-unknown-here")), IPS["c1"], 1.1)
    assert live._state.heard["c1"].claims == {}
    assert {k: live.stats[k] for k in seal.REASONS} == {
        "forged": 2, "stale": 0, "replayed": 1, "foreign": 4
    }  # fmt: skip


def test_a_restarted_gateway_is_heard_at_once() -> None:
    wall = Wall()
    live = receiver(wall)
    assert live.hear(Sealer(KEY, "g2", seal.BEAT, wall=wall).seal(beat("g2", R)), IPS["g2"], 1.0)
    wall.now += 1000
    restarted = Sealer(KEY, "g2", seal.BEAT, wall=wall)
    assert live.hear(restarted.seal(beat("g2")), IPS["g2"], 1.0)
    assert live._state.heard["g2"].claims == {}


# -- the state sync receiver -------------------------------------------------------------


def standby(wall: Wall, active: str | None = "g2") -> StateSync:
    sync = StateSync("g1", IPS["g1"], 4792, key=KEY, wall=wall)
    gateways = {"g2": IPS["g2"], "g3": "192.0.2.4"}
    sync.update({}, {R: Standby("ns-r1", gateways, active)})
    return sync


def datagram(router_id: str = R) -> bytes:
    [data] = ctsync.encode([], [], router_id=router_id, seq=0)
    return data


def test_sync_datagrams_from_the_active_gateway_are_taken_others_dropped() -> None:
    wall = Wall()
    sync = standby(wall)
    g2 = Sealer(KEY, "g2", seal.CTSYNC, wall=wall)
    first = g2.seal(datagram())
    admitted = sync.admit(first, IPS["g2"])
    assert admitted is not None and admitted[0].netns == "ns-r1" and admitted[1]  # flush first
    second = sync.admit(g2.seal(datagram()), IPS["g2"])
    assert second is not None and second[1] is False  # same sender: no flush
    assert sync.admit(first, IPS["g2"]) is None  # replayed
    assert sync.admit(datagram(), IPS["g2"]) is None  # not sealed
    c1 = Sealer(KEY, "c1", seal.CTSYNC, wall=wall)
    assert sync.admit(c1.seal(datagram()), IPS["c1"]) is None  # not a gateway host
    assert sync.admit(g2.seal(datagram()), IPS["c1"]) is None  # not from g2's address
    g3 = Sealer(KEY, "g3", seal.CTSYNC, wall=wall)
    assert sync.admit(g3.seal(datagram()), "192.0.2.4") is None  # a standby: ignored
    assert sync.admit(g2.seal(datagram("router-2")), IPS["g2"]) is None  # not ours: ignored
    assert {k: sync.stats[k] for k in (*seal.REASONS, "ignored")} == {
        "forged": 1, "stale": 0, "replayed": 1, "foreign": 2, "ignored": 2
    }  # fmt: skip


def test_with_no_active_host_known_any_gateway_may_sync_and_a_new_one_flushes() -> None:
    wall = Wall()
    sync = standby(wall, active=None)
    a = sync.admit(Sealer(KEY, "g2", seal.CTSYNC, wall=wall).seal(datagram()), IPS["g2"])
    b = sync.admit(Sealer(KEY, "g3", seal.CTSYNC, wall=wall).seal(datagram()), "192.0.2.4")
    assert a is not None and a[1] and b is not None and b[1]


def test_sealed_sync_datagrams_fit_the_datagram_limit() -> None:
    sealer = Sealer(KEY, "h" * 255, seal.CTSYNC)
    upserts = [e for e in ENTRIES for _ in range(40)]
    room = ctsync.MAX_DATAGRAM - sealer.overhead
    datagrams = ctsync.encode(upserts, [], router_id="r" * 64, seq=0, max_size=room)
    assert len(datagrams) > 1
    assert all(len(sealer.seal(d)) <= ctsync.MAX_DATAGRAM for d in datagrams)
    with pytest.raises(ValueError):
        ctsync.encode(upserts, [], router_id="r", seq=0, max_size=100)


def test_beats_before_the_first_view_are_ignored_not_counted() -> None:
    wall = Wall()
    live = Liveness("g1", IPS["g1"], key=KEY, wall=wall)
    assert not live.hear(Sealer(KEY, "g2", seal.BEAT, wall=wall).seal(beat("g2")), IPS["g2"], 1)
    assert {k: live.stats[k] for k in seal.REASONS} == dict.fromkeys(seal.REASONS, 0)
