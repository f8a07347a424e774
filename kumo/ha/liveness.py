"""Host liveness over the underlay, and who is each HA router's active gateway.

Only the hosts of the beat group beat: the gateway hosts of HA routers
and a few witnesses (``kumo.ha.beatgroup``; not every host to every host,
which at 1,000 hosts would be a million datagrams per interval). Each
sends a small UDP beat to every other member's tunnel address each
``interval`` (from the host's namespace, so a cut underlay silences it)
and listens for theirs. A host is alive while its last beat is younger
than ``hold``. A beat says which routers its sender is active for
(``claims``) and whether the sender has quorum (it hears more than half of
the group, itself included). A host outside the group neither beats nor
decides: it leaves each router's gateway where the control plane last saw
it.

Every member, gateway or witness, runs the same pure rule (``decide``) on
what it hears, so all of them agree on the active gateway of each router
without asking anyone:

- a host is *eligible* while alive and with quorum;
- a host *listens* for ``2 * hold`` after it starts and after it regains
  quorum lost for longer than ``hold`` (a shorter loss, say a late beat on
  a busy host, leaves what it heard current), so it learns the current
  claims before making one: meanwhile it claims nothing, keeps its own
  routers closed, and leaves the others where the control plane last saw
  them (``active()`` omits them);
- the eligible claimant ranked first in the router's gateway hosts wins
  (with preemption: the eligible host ranked first, claim or not);
- with no eligible claimant, the eligible host ranked first takes over.

A host never claims without quorum, counted over peers heard within
``lease``: a gateway cut off from its peers releases its routers after
``lease``, before the others declare it dead after ``hold``. A host
whose agent dies stops beating; its kernel closes its gates when the lease
the beats renew runs out (``lease`` < ``hold``, see
``kumo.dataplane.nftables.gate``), before anyone takes over. A returning
host finds the router claimed and stays standby (no preemption unless
configured). A stopping agent sends a last beat with ``leaving`` set so
the others take over at once.

Beats are sealed with the cluster key (``kumo.ha.seal``). A beat is
dropped (counted in ``stats`` by reason, logged rarely) when its seal is
forged, its stamp is stale or not newer than the last one of its sender
(a replay), or its sender is not a known host beating from its tunnel
address. Claims on a router whose gateway hosts (as this host's view
lists them) do not include the sender are dropped from the beat and
counted as foreign; the beat still counts for its sender's liveness.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from kumo import pollwait
from kumo.dataplane import netns
from kumo.ha import seal
from kumo.ha.beatgroup import WITNESSES, beat_group

log = logging.getLogger("kumo.ha")

VERSION = 1


@dataclass(frozen=True)
class LivenessSettings:
    interval: float = 0.05
    """Seconds between beats."""
    hold: float = 0.25
    """A host is dead when nothing came from it for this long."""
    lease: float = 0.2
    """The kernel keeps a gate open this long after the last beat left."""
    port: int = 4791
    preempt: bool = False
    """Take a router back when a host ranked before its active gateway returns."""
    witnesses: int = WITNESSES
    """Hosts besides the gateway hosts that beat, for quorum (``kumo.ha.beatgroup``)."""


Claims = Mapping[str, float]
"""Router id → seconds the claim has been held."""


@dataclass(frozen=True)
class Beat:
    host: str
    seq: int
    quorum: bool
    claims: Claims = field(default_factory=dict)
    leaving: bool = False

    def encode(self) -> bytes:
        held = {rid: round(age * 1000) for rid, age in sorted(self.claims.items())}
        body = {"v": VERSION, "h": self.host, "s": self.seq, "q": self.quorum,
                "c": held, "l": self.leaving}  # fmt: skip
        return json.dumps(body, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> Beat:
        try:
            body = json.loads(data)
            if body["v"] != VERSION:
                raise ValueError(f"beat version {body['v']!r}")
            claims = {str(rid): int(ms) / 1000 for rid, ms in body["c"].items()}
            return cls(host=str(body["h"]), seq=int(body["s"]), quorum=bool(body["q"]),
                       claims=claims, leaving=bool(body["l"]))  # fmt: skip
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError,
                UnicodeDecodeError) as exc:  # fmt: skip
            raise ValueError(f"not a beat: {exc}") from exc


@dataclass(frozen=True)
class Heard:
    """What this host last heard from a live peer."""

    quorum: bool
    claims: Claims


def decide(
    me: str,
    routers: Mapping[str, tuple[str, ...]],
    peers: Mapping[str, Heard],
    *,
    eligible_self: bool,
    my_claims: Claims,
    preempt: bool = False,
) -> tuple[dict[str, str | None], frozenset[str]]:
    """(router → active host or None, the routers this host claims now).

    ``routers`` maps each HA router to its gateway hosts, ranked; ``peers``
    holds only live peers. Of several claimants (one was briefly thought
    dead), the one holding its claim longest keeps the router, ties going
    by rank: the incumbent is not disturbed."""
    active: dict[str, str | None] = {}
    claims: set[str] = set()
    for rid, hosts in routers.items():

        def eligible(h: str) -> bool:
            if h == me:
                return eligible_self
            heard = peers.get(h)
            return heard is not None and heard.quorum

        def held(h: str, rid: str = rid) -> float | None:
            return (my_claims if h == me else peers[h].claims).get(rid)

        ranked = [h for h in hosts if eligible(h)]
        claimants = [(age, -i, h) for i, h in enumerate(ranked) if (age := held(h)) is not None]
        if preempt or not claimants:
            winner = ranked[0] if ranked else None
        else:
            winner = max(claimants)[2]
        active[rid] = winner
        if winner == me:
            claims.add(rid)
    return active, frozenset(claims)


@dataclass
class _State:
    peers: dict[str, str] = field(default_factory=dict)
    """host → tunnel address (the other members of the beat group)."""
    routers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    last: dict[str, float] = field(default_factory=dict)
    heard: dict[str, Heard] = field(default_factory=dict)
    active: dict[str, str | None] = field(default_factory=dict)
    claims: frozenset[str] = frozenset()
    claimed_since: dict[str, float] = field(default_factory=dict)
    quorum: bool = False
    quorum_seen_at: float = float("-inf")
    """When this host last had quorum."""
    listening_until: float = 0.0


class Liveness:
    """The beat thread of one host. ``configure`` it from every agent pass;
    read ``active()`` for the compiler and ``states()`` for the API."""

    def __init__(
        self,
        host: str,
        bind_ip: str,
        settings: LivenessSettings | None = None,
        *,
        key: seal.ClusterKey,
        host_netns: str | None = None,
        on_change: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
        wall: seal.Wall = time.time_ns,
    ) -> None:
        self.host = host
        self.bind_ip = bind_ip
        self.settings = settings or LivenessSettings()
        self.host_netns = host_netns
        self.on_change = on_change
        self.clock = clock
        self._lock = threading.Lock()
        self._state = _State()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._seq = 0
        self.configured = threading.Event()
        self.stats = {"sent": 0, "received": 0, "send_errors": 0, "late_beats": 0}
        self._sealer = seal.Sealer(key, host, seal.BEAT, wall=wall)
        self._opener = seal.Opener(key, seal.BEAT, wall=wall)
        self._drops = seal.Drops(f"{host}: beats", self.stats)

    # -- the agent's side --------------------------------------------------------------

    def configure(
        self,
        peers: Mapping[str, str],
        routers: Mapping[str, tuple[str, ...]],
        gateways: Iterable[str] = (),
    ) -> None:
        """``peers``: every host known (host → tunnel address); ``routers``:
        the HA routers of this host's view with their gateway hosts;
        ``gateways``: the hosts marked as gateway hosts. Only the beat
        group's members are kept: a host outside it beats to no one and
        decides nothing."""
        known = {h: ip for h, ip in peers.items() if ip}
        group = beat_group({*known, self.host}, routers, self.settings.witnesses, gateways)
        member = self.host in group
        with self._lock:
            self._state.peers = {
                h: ip for h, ip in known.items() if member and h != self.host and h in group
            }
            self._state.routers = dict(routers) if member else {}
        self.configured.set()

    def targets(self) -> list[str]:
        """The tunnel addresses each beat goes to."""
        with self._lock:
            return sorted(self._state.peers.values())

    def active(self) -> dict[str, str | None]:
        with self._lock:
            return dict(self._state.active)

    def states(self) -> dict[str, str]:
        """``active``/``standby`` for every HA router this host is a gateway of."""
        with self._lock:
            return {
                rid: "active" if rid in self._state.claims else "standby"
                for rid, hosts in self._state.routers.items()
                if self.host in hosts
            }

    def start(self) -> None:
        self._sock = netns.socket_in(self.host_netns, socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0xB8)  # EF: ahead of bulk traffic
        self._sock.bind((self.bind_ip, self.settings.port))
        self._sock.setblocking(False)
        with self._lock:
            self._state.listening_until = self.clock() + 2 * self.settings.hold
        self._thread = threading.Thread(target=self._run, name="kumo-liveness", daemon=True)
        self._thread.start()

    def stop(self, *, leaving: bool = True) -> None:
        """Stop beating; with ``leaving``, tell the peers first (they take
        over at once instead of after ``hold``)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if leaving and self._sock is not None:
            with self._lock:
                self._state.claims = frozenset()
            self._send(leaving=True)
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # -- the thread -------------------------------------------------------------------

    def _run(self) -> None:
        assert self._sock is not None
        interval = self.settings.interval
        next_beat = self.clock()
        while not self._stop.is_set():
            wait = max(0.0, next_beat - self.clock())
            try:
                readable = pollwait.readable([self._sock], wait)
            except OSError:
                return
            if readable:
                self._receive()
            now = self.clock()
            changed_claims = self._evaluate(now)
            if changed_claims or now >= next_beat:
                if now - next_beat > interval:
                    self.stats["late_beats"] += 1
                self._send()
                next_beat = now + interval

    def _receive(self) -> None:
        assert self._sock is not None
        now = self.clock()
        while True:
            try:
                data, addr = self._sock.recvfrom(2048)
            except BlockingIOError:
                return
            except OSError:
                return
            self.hear(data, addr[0], now)

    def hear(self, data: bytes, source: str, now: float) -> bool:
        """Take one datagram from ``source``; True when it was a beat kept."""
        if not self.configured.is_set():
            return False  # no hosts known yet: nothing is foreign
        try:
            opened = self._opener.open(data)
            beat = Beat.decode(opened.payload)
        except seal.Rejected as exc:
            self._drops.drop(exc.reason, source, exc.detail)
            return False
        except ValueError as exc:
            self._drops.drop("forged", source, f"sealed, but {exc}")
            return False
        with self._lock:
            st = self._state
            if beat.host != opened.sender or st.peers.get(beat.host) != source:
                why = f"{opened.sender!r} is not a host beating from {source}"
                self._drops.drop("foreign", source, why)
                return False
            if not self._opener.fresh(beat.host, opened.stamp):
                self._drops.drop("replayed", source, f"a beat of {beat.host} seen before")
                return False
            self.stats["received"] += 1
            if beat.leaving:
                st.last.pop(beat.host, None)
                st.heard.pop(beat.host, None)
                return True
            foreign = sorted(
                r for r in beat.claims if beat.host not in st.routers.get(r, (beat.host,))
            )
            if foreign:
                why = f"{beat.host} claims {', '.join(foreign)} but is not a gateway host of it"
                self._drops.drop("foreign", source, why)
            claims = {
                r: age for r, age in beat.claims.items() if beat.host in st.routers.get(r, ())
            }
            st.last[beat.host] = now
            st.heard[beat.host] = Heard(beat.quorum, claims)
        return True

    def _evaluate(self, now: float) -> bool:
        """Recompute; True when this host's claims changed (beat at once)."""
        hold = self.settings.hold
        with self._lock:
            st = self._state
            for h in [h for h, t in st.last.items() if now - t > hold or h not in st.peers]:
                del st.last[h]
                st.heard.pop(h, None)
            members = len(st.peers) + 1
            # Quorum counts only peers heard within the lease: a host cut off
            # releases its routers before the others declare it dead.
            heard = sum(1 for t in st.last.values() if now - t <= self.settings.lease)
            quorum = (heard + 1) * 2 > members
            if quorum and not st.quorum and now - st.quorum_seen_at > hold:
                # Out of touch long enough to have missed claims: listen first.
                st.listening_until = max(st.listening_until, now + 2 * hold)
            if quorum:
                st.quorum_seen_at = now
            st.quorum = quorum
            if now < st.listening_until:
                # Undecided: this host's own routers stay closed here, the
                # others as the control plane last heard (absent).
                active: dict[str, str | None] = {
                    rid: None for rid, hosts in st.routers.items() if self.host in hosts
                }
                claims: frozenset[str] = frozenset()
            else:
                held = {rid: now - st.claimed_since.get(rid, now) for rid in st.claims}
                active, claims = decide(self.host, st.routers, st.heard, eligible_self=quorum,
                                        my_claims=held, preempt=self.settings.preempt)  # fmt: skip
            changed = active != st.active or claims != st.claims
            claims_changed = claims != st.claims
            if claims_changed:
                log.info("%s: active for %s (quorum %s)", self.host, sorted(claims), quorum)
            st.active, st.claims = active, claims
            st.claimed_since = {rid: st.claimed_since.get(rid, now) for rid in claims}
        if changed:
            self.on_change()
        return claims_changed

    def _send(self, *, leaving: bool = False) -> None:
        sock = self._sock
        if sock is None:
            return
        with self._lock:
            self._seq += 1
            now = self.clock()
            held = {r: now - self._state.claimed_since.get(r, now) for r in self._state.claims}
            beat = Beat(self.host, self._seq, self._state.quorum, held, leaving)
            targets = sorted(self._state.peers.values())
        data = self._sealer.seal(beat.encode())
        for ip in targets:
            try:
                sock.sendto(data, (ip, self.settings.port))
                self.stats["sent"] += 1
            except OSError:
                self.stats["send_errors"] += 1
