"""Signed underlay messages: HMAC-SHA256 with the cluster key, and replay marks.

The gateway hosts of HA routers talk over UDP on the underlay: liveness
beats (``kumo.ha.liveness``) and connection-state sync
(``kumo.ha.statesync``). Each datagram is sealed with the cluster key that
every enrolled agent fetches from the API at start
(``/internal/v1/cluster-key``), so a datagram from anything that does not
hold the key is dropped, whatever address it claims to come from.

Envelope, version 1 (integers big-endian)::

    "KS" version:u8 kind:u8 key_id:4 stamp:u64 sender_len:u8 sender:utf-8
    payload
    tag:32 = HMAC-SHA256(key, everything before it)

- ``kind`` keeps the channels apart (a beat is never taken for a sync
  datagram): ``BEAT`` or ``CTSYNC``.
- ``key_id`` names the key (the first bytes of a hash of it): a host
  holding another key says so in its log instead of "forged".
- ``stamp`` is the sender's wall clock in nanoseconds, made strictly
  increasing within the sending process (``max(now, last + 1)``).
- ``sender`` is the sending host's name; the receiver checks it against
  the address the datagram came from and the router's gateway hosts.

Replay: a receiver accepts a stamp only within ``WINDOW`` seconds of its
own clock (``Opener.open``) and only above the highest stamp it accepted
from the same stream, a sender or a (sender, router) pair (``fresh``).
Using the wall clock as the sequence is what lets a restarted sender in at
once: it remembers nothing, but its clock is past every stamp it sent
before. The window bounds what a receiver that remembers nothing (it just
started) can be fed: datagrams younger than ``WINDOW``. Hosts' clocks must
agree within the window (NTP). A clock stepped back by D while a sender
runs does not stop it (its stamps keep climbing from the last one); a
sender restarted after such a step is dropped as replayed until its clock
passes its old stamps, at most about ``WINDOW`` later (a receiver only
accepted stamps within the window of its own clock).

Not covered: every enrolled agent holds the same key, so a host whose
agent is compromised can sign as any other host. The key keeps out
everything else on the underlay (tenant traffic leaking onto it, other
machines on the segment); sealing does not hide the contents.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import struct
import threading
import time
from collections.abc import Callable, Hashable, MutableMapping
from dataclasses import dataclass

log = logging.getLogger("kumo.ha")

MAGIC = b"KS"
VERSION = 1
BEAT = 1
CTSYNC = 2
WINDOW = 5.0
"""Seconds a stamp may differ from the receiver's clock."""
TAG_SIZE = 32
KEY_SIZE = 32
_HEAD = struct.Struct(">2sBB4sQB")
_MAX_SENDER = 255

REASONS = ("forged", "stale", "replayed", "foreign")
"""Why a datagram was dropped: a bad tag, another key or no envelope;
a stamp outside the window; a stamp already passed; a sender that may not
send this (not a known host, not from its address, not a gateway host of
the router)."""


@dataclass(frozen=True, repr=False)
class ClusterKey:
    secret: bytes

    def __post_init__(self) -> None:
        if len(self.secret) < KEY_SIZE:
            raise ValueError(f"a cluster key has at least {KEY_SIZE} bytes")

    def __repr__(self) -> str:
        return f"ClusterKey(id={self.id.hex()})"

    @property
    def id(self) -> bytes:
        return hashlib.sha256(b"kumo cluster key id\0" + self.secret).digest()[:4]

    @classmethod
    def from_text(cls, text: str) -> ClusterKey:
        """From its base64 form (as the API hands it out)."""
        try:
            return cls(base64.b64decode(text, validate=True))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"not a cluster key: {exc}") from None

    def text(self) -> str:
        return base64.b64encode(self.secret).decode()


class Rejected(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Opened:
    sender: str
    stamp: int
    payload: bytes


Wall = Callable[[], int]
"""Nanoseconds of wall clock (``time.time_ns``)."""


class _Tagger:
    """HMAC-SHA256 with the key's pads hashed once: a copy per datagram
    costs about half of ``hmac.digest`` (which sets the key up each call)."""

    def __init__(self, key: ClusterKey) -> None:
        self._keyed = hmac.new(key.secret, digestmod=hashlib.sha256)

    def __call__(self, body: bytes) -> bytes:
        mac = self._keyed.copy()
        mac.update(body)
        return mac.digest()


class Sealer:
    """Seals this host's datagrams of one kind; safe to share between threads."""

    def __init__(self, key: ClusterKey, sender: str, kind: int, *, wall: Wall = time.time_ns):
        name = sender.encode()
        if not name or len(name) > _MAX_SENDER:
            raise ValueError(f"sender name must be 1-{_MAX_SENDER} bytes")
        self._tag = _Tagger(key)
        self._prefix = (key.id, name)
        self._kind = kind
        self._wall = wall
        self._last = 0
        self._lock = threading.Lock()

    @property
    def overhead(self) -> int:
        """Bytes the envelope adds to a payload."""
        return _HEAD.size + len(self._prefix[1]) + TAG_SIZE

    def seal(self, payload: bytes) -> bytes:
        with self._lock:
            stamp = self._last = max(self._wall(), self._last + 1)
        key_id, name = self._prefix
        body = _HEAD.pack(MAGIC, VERSION, self._kind, key_id, stamp, len(name)) + name + payload
        return body + self._tag(body)


class Opener:
    """Checks datagrams of one kind and remembers the newest stamp of each
    stream. ``open`` then ``fresh``: a datagram that fails later checks of
    the caller's (say, a foreign sender) does not move a stream's mark."""

    def __init__(self, key: ClusterKey, kind: int, *, window: float = WINDOW,
                 wall: Wall = time.time_ns) -> None:  # fmt: skip
        self._tag = _Tagger(key)
        self._key_id = key.id
        self._kind = kind
        self._window = round(window * 1e9)
        self._wall = wall
        self._marks: dict[Hashable, int] = {}
        self._lock = threading.Lock()

    def open(self, data: bytes) -> Opened:
        """The checked datagram; ``Rejected`` (forged or stale) otherwise."""
        if len(data) < _HEAD.size + TAG_SIZE:
            raise Rejected("forged", "too short for a sealed datagram")
        magic, version, kind, key_id, stamp, name_len = _HEAD.unpack_from(data)
        if magic != MAGIC or version != VERSION or kind != self._kind:
            raise Rejected(
                "forged", f"not a sealed datagram of kind {self._kind} version {VERSION}"
            )
        if key_id != self._key_id:
            raise Rejected("forged", f"sealed with key {key_id.hex()}, not {self._key_id.hex()}")
        body, tag = data[:-TAG_SIZE], data[-TAG_SIZE:]
        if not hmac.compare_digest(self._tag(body), tag):
            raise Rejected("forged", "bad tag")
        start = _HEAD.size + name_len
        if not name_len or start > len(body):
            raise Rejected("forged", "bad sender")
        try:
            sender = body[_HEAD.size : start].decode()
        except UnicodeDecodeError:
            raise Rejected("forged", "bad sender") from None
        skew = stamp - self._wall()
        if abs(skew) > self._window:
            raise Rejected("stale", f"stamp {skew / 1e9:+.1f}s from this host's clock ({sender})")
        return Opened(sender, stamp, body[start:])

    def fresh(self, stream: Hashable, stamp: int) -> bool:
        """True (and remembered) when ``stamp`` is above every stamp
        accepted on ``stream``; False for a replay or a late duplicate."""
        with self._lock:
            if stamp <= self._marks.get(stream, 0):
                return False
            self._marks[stream] = stamp
            return True


class Drops:
    """Counts dropped datagrams in ``stats`` (one counter per reason) and
    logs at most one warning per reason every ``every`` seconds."""

    def __init__(self, what: str, stats: MutableMapping[str, int], *, every: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.what = what
        self.stats = stats
        for reason in REASONS:
            stats.setdefault(reason, 0)
        self.every = every
        self.clock = clock
        self._logged: dict[str, tuple[float, int]] = {}

    def drop(self, reason: str, source: str, detail: str) -> None:
        self.stats[reason] = self.stats.get(reason, 0) + 1
        now = self.clock()
        at, count = self._logged.get(reason, (float("-inf"), 0))
        if now - at < self.every:
            return
        since = self.stats[reason] - count
        self._logged[reason] = (now, self.stats[reason])
        log.warning("%s: dropped %d %s datagram(s) since the last report; the latest from %s: %s",
                    self.what, since, reason, source, detail)  # fmt: skip
