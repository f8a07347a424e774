"""Connection-tracking sync between the gateway hosts of a router.

A router's SNAT namespace runs on the active gateway host; each standby
host keeps an identical namespace that sees no traffic until failover.
Those namespaces set ``nf_conntrack_tcp_loose=0``, so an established TCP
connection survives a failover only if the standby already holds its
conntrack entry, NAT mapping included. This module reads entries on the
active side and writes them on the standby side; the agent carries them
between hosts (over UDP on the underlay) in datagrams.

- ``dump(netns)``: the namespace's table, as ``Entry`` values.
- ``Watcher(netns, on_change)``: a thread subscribed to the namespace's
  conntrack events (NEW, UPDATE, DESTROY). It subscribes first, then dumps,
  so no change between the two is lost; it hands ``on_change(upserts,
  deletes)`` batches, one entry per connection, the latest state winning.
  Every ``resync`` seconds, and at once after the kernel dropped events
  (ENOBUFS) or ``on_change`` failed, it dumps again and sends every entry
  (refreshing the standby's timeouts, which no event does) plus a delete
  for each entry it had sent that is gone.
- ``enable_events(netns)``: ``nf_conntrack_events=1``. The kernel's default
  gives events only for entries created while someone listened, so every
  router namespace (standbys too: they become active) needs it from the
  start; the Watcher sets it on its own namespace as a safety net.
- ``apply(netns, upserts, deletes)``: deletes (absent ones count as done),
  then creates, then updates what already existed. Entries are created
  confirmed, with their status bits and TCP state, and NATed by the
  kernel itself: the message carries the un-NATed reply tuple plus the
  NAT range that maps it to the reply tuple seen on the active side, so
  the kernel sets ``SRC_NAT``/``DST_NAT`` and translates return traffic.
- ``flush(netns)``: empty a table (a standby before a new sync starts).

Its parts, re-exported here: ``kumo.ha.ctentry`` (``Entry``, ``FlowTuple``,
the status and TCP state constants, and what is synced: ``worth_syncing``),
``kumo.ha.ctwire`` (the datagrams: ``encode``, ``decode``) and
``kumo.ha.ctnetlink`` (the kernel messages and socket).

Limits: if the standby already holds another entry using the same NAT
tuple, the kernel picks another port for the new one (the active side's
mapping is lost for that connection). A Watcher does not know what an
earlier one sent: run ``flush`` on a standby before a new Watcher starts
feeding it. Run a Watcher only on the active side: entries ``apply``
creates raise events too. What an entry does not carry is listed in
``kumo.ha.ctentry``.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from kumo import pollwait
from kumo.dataplane import netns as ns
from kumo.ha.ctentry import (
    ASSURED,
    CONFIRMED,
    DST_NAT,
    ICMP,
    ICMPV6,
    PROTOCOLS,
    SEEN_REPLY,
    SRC_NAT,
    SYNCED_STATUS,
    SYNCED_TCP_STATES,
    TCP,
    TCP_CLOSE,
    TCP_CLOSE_WAIT,
    TCP_ESTABLISHED,
    TCP_FIN_WAIT,
    TCP_FLAGS_SYNCED,
    TCP_LAST_ACK,
    TCP_NONE,
    TCP_SYN_RECV,
    TCP_SYN_SENT,
    TCP_SYN_SENT2,
    TCP_TIME_WAIT,
    UDP,
    Entry,
    FlowTuple,
    Key,
    check_kind,
    key_entry,
    worth_syncing,
)
from kumo.ha.ctnetlink import (
    MSG_DELETE,
    Conntrack,
    Request,
    create_request,
    delete_request,
    flush_request,
    messages,
    parse_entry,
    subscribe,
    update_request,
)
from kumo.ha.ctwire import MAX_DATAGRAM, WIRE_VERSION, decode, encode

__all__ = [
    "ASSURED",
    "CONFIRMED",
    "DST_NAT",
    "ICMP",
    "ICMPV6",
    "MAX_DATAGRAM",
    "PROTOCOLS",
    "SEEN_REPLY",
    "SRC_NAT",
    "SYNCED_STATUS",
    "SYNCED_TCP_STATES",
    "TCP",
    "TCP_CLOSE",
    "TCP_CLOSE_WAIT",
    "TCP_ESTABLISHED",
    "TCP_FIN_WAIT",
    "TCP_FLAGS_SYNCED",
    "TCP_LAST_ACK",
    "TCP_NONE",
    "TCP_SYN_RECV",
    "TCP_SYN_SENT",
    "TCP_SYN_SENT2",
    "TCP_TIME_WAIT",
    "UDP",
    "WIRE_VERSION",
    "Applied",
    "Entry",
    "FlowTuple",
    "Key",
    "OnChange",
    "Watcher",
    "apply",
    "decode",
    "dump",
    "enable_events",
    "encode",
    "flush",
    "key_entry",
    "worth_syncing",
]

log = logging.getLogger("kumo.ha")

_EVENTS_SYSCTL = "/proc/sys/net/netfilter/nf_conntrack_events"


def _key_only(key: Key) -> Entry:
    l3, proto, zone, orig = key
    return key_entry(l3, proto, orig, zone)


def enable_events(netns: str | None) -> None:
    """Have the kernel report events for every new entry of the namespace.
    Its default (2) only attaches event tracking to entries created while
    someone listens: a connection opened while no agent watched would never
    report its end. OSError if conntrack is not loaded there."""
    with ns.entered(netns), open(_EVENTS_SYSCTL, "w") as f:
        f.write("1")


def flush(netns: str | None) -> None:
    """Delete every entry of the namespace's table."""
    with Conntrack(netns) as ct:
        [code] = ct.transact([flush_request()])
    if code:
        raise OSError(code, f"conntrack flush: {os.strerror(code)}")


def dump(netns: str | None) -> list[Entry]:
    """Every TCP, UDP, ICMP and ICMPv6 entry of the namespace's table."""
    with Conntrack(netns) as ct:
        return list(ct.entries())


@dataclass
class Applied:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    absent: int = 0
    """Deletes of entries that were not there."""
    failed: list[tuple[Entry, int]] = field(default_factory=list)
    """Entries the kernel refused, with its errno."""

    @property
    def ok(self) -> bool:
        return not self.failed


def _requests(
    entries: Sequence[Entry], build: Callable[[Entry], Request], result: Applied
) -> tuple[list[Entry], list[Request]]:
    kept, requests = [], []
    for e in entries:
        try:
            check_kind(e.l3, e.proto)
            requests.append(build(e))
        except (ValueError, struct.error):
            result.failed.append((e, errno.EINVAL))
            continue
        kept.append(e)
    return kept, requests


def apply(netns: str | None, upserts: Sequence[Entry], deletes: Sequence[Entry]) -> Applied:
    """Delete ``deletes`` (absent ones count as done), then create each of
    ``upserts`` with its NAT mapping, updating (state, status, timeout,
    mark) those that already exist. A NAT mapping is only set at creation:
    an existing entry keeps its own."""
    result = Applied()
    with Conntrack(netns) as ct:
        gone, requests = _requests(deletes, delete_request, result)
        for e, code in zip(gone, ct.transact(requests), strict=True):
            if code == 0:
                result.deleted += 1
            elif code == errno.ENOENT:
                result.absent += 1
            else:
                result.failed.append((e, code))
        wanted, requests = _requests(upserts, create_request, result)
        existing = []
        for e, code in zip(wanted, ct.transact(requests), strict=True):
            if code == 0:
                result.created += 1
            elif code == errno.EEXIST:
                existing.append(e)
            else:
                result.failed.append((e, code))
        update = [update_request(e) for e in existing]
        for e, code in zip(existing, ct.transact(update), strict=True):
            if code == 0:
                result.updated += 1
            else:
                result.failed.append((e, code))
    return result


OnChange = Callable[[list[Entry], list[Entry]], None]


class Watcher:
    """Follows one namespace's conntrack table from a thread and reports
    changes to ``on_change(upserts, deletes)`` (called from that thread).

    Only entries ``want`` accepts are reported; an entry that stops being
    accepted (TCP reaching TIME_WAIT) or is destroyed is reported as a
    delete if it had been reported before. ``resync`` is the period of full
    dumps (None: only at start and after lost events)."""

    def __init__(
        self,
        netns: str | None,
        on_change: OnChange,
        *,
        want: Callable[[Entry], bool] = worth_syncing,
        resync: float | None = 30.0,
        max_batch: int = 1000,
    ) -> None:
        self.netns = netns
        self.on_change = on_change
        self.want = want
        self.resync = resync
        self.max_batch = max_batch
        self.synced = threading.Event()
        """Set once the first full dump has been handed to ``on_change``."""
        self.stats = {"events": 0, "batches": 0, "resyncs": 0, "overruns": 0, "failures": 0}
        self._known: set[Key] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._events: socket.socket | None = None
        self._ct: Conntrack | None = None

    def start(self) -> None:
        """Enable events for new entries, subscribe (here, before
        returning), then dump and follow events from the thread: nothing that
        changes after ``start`` is missed. Entries created before events were
        enabled report no events: the full syncs keep them right."""
        try:
            enable_events(self.netns)
        except OSError as exc:
            log.warning("ctsync %s: cannot enable conntrack events: %s", self.netns, exc)
        self._events = subscribe(self.netns)
        self._events.setblocking(False)
        self._ct = Conntrack(self.netns)
        self._thread = threading.Thread(target=self.run, name="ctsync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for closable in (self._events, self._ct):
            if closable is not None:
                closable.close()

    def run(self) -> None:
        assert self._events is not None
        next_resync = 0.0
        while not self._stop.is_set():
            if time.monotonic() >= next_resync:
                next_resync = self._full_sync()
            wait = min(0.2, max(0.0, next_resync - time.monotonic()))
            ready = pollwait.readable([self._events], wait)
            if not ready:
                continue
            upserts: dict[Key, Entry] = {}
            deletes: dict[Key, Entry] = {}
            overrun = self._drain(upserts, deletes)
            if not self._deliver(list(upserts.values()), list(deletes.values())):
                next_resync = min(next_resync, time.monotonic() + 1.0)
            if overrun:
                next_resync = 0.0

    def _next_resync(self) -> float:
        return time.monotonic() + self.resync if self.resync is not None else float("inf")

    def _full_sync(self) -> float:
        """Dump, report every selected entry and a delete for each reported
        one that is gone; the time of the next full sync."""
        assert self._ct is not None
        self.stats["resyncs"] += 1
        try:
            current = {e.key: e for e in self._ct.entries() if self.want(e)}
        except OSError as exc:
            log.warning("ctsync %s: dump failed: %s", self.netns, exc)
            return time.monotonic() + 1.0
        gone = [_key_only(key) for key in self._known - set(current)]
        self._known = set(current)
        ok = self._deliver(list(current.values()), gone)
        self.synced.set()
        return self._next_resync() if ok else time.monotonic() + 1.0

    def _drain(self, upserts: dict[Key, Entry], deletes: dict[Key, Entry]) -> bool:
        """Read pending events into the batch; True if the kernel dropped some."""
        assert self._events is not None
        count = 0
        while count < self.max_batch:
            try:
                data = self._events.recv(1 << 16)
            except BlockingIOError:
                return False
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                self.stats["overruns"] += 1
                log.warning("ctsync %s: events lost, dumping again", self.netns)
                return True
            for kind, _flags, _seq, payload in messages(data):
                count += 1
                self.stats["events"] += 1
                self._event(kind & 0xFF, payload, upserts, deletes)
        return False

    def _event(
        self, kind: int, payload: bytes, upserts: dict[Key, Entry], deletes: dict[Key, Entry]
    ) -> None:
        parsed = parse_entry(payload)
        if parsed is None:
            return
        entry: Entry | None = parsed[0]
        key = parsed[0].key
        if kind == MSG_DELETE:
            entry = None
        elif not parsed[1]:
            assert self._ct is not None
            try:
                entry = self._ct.get(parsed[0])
            except OSError as exc:
                log.warning("ctsync %s: get failed: %s", self.netns, exc)
                return
        if entry is not None and self.want(entry):
            upserts[key] = entry
            self._known.add(key)
            return
        upserts.pop(key, None)
        if key in self._known:
            self._known.discard(key)
            deletes[key] = _key_only(key)

    def _deliver(self, upserts: list[Entry], deletes: list[Entry]) -> bool:
        if not upserts and not deletes:
            return True
        self.stats["batches"] += 1
        try:
            self.on_change(upserts, deletes)
        except Exception:
            self.stats["failures"] += 1
            log.exception("ctsync %s: on_change failed; a full sync follows", self.netns)
            self._known.update(e.key for e in deletes)  # so the full sync deletes them again
            return False
        return True
