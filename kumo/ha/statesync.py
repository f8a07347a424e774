"""Carry HA routers' connection state from the active gateway host to the standbys.

The agent calls ``update`` after every pass with the routers this host is
active for (their gateway namespace and the standby hosts' tunnel
addresses) and the routers it is a standby for. For an active router a
``ctsync.Watcher`` follows the namespace's conntrack table and every batch
goes, as ``ctsync`` datagrams, to each standby over UDP on the underlay
(from the host's namespace, port ``liveness port + 1``). A standby applies
what it receives to its own copy of the namespace; when the sender of a
router changes (a new active host), it empties that copy first, as the new
sender starts with a full dump. Datagrams for routers it is not a standby
for, or from a gateway host that is not the active one, are ignored.

Datagrams are sealed with the cluster key (``kumo.ha.seal``), the router
being the replay stream: each (sender, router) stamp must be newer than the
last one accepted. Forged, stale and replayed datagrams, and those from a
host that is not a gateway host of the router (or not from its tunnel
address), are dropped, counted in ``stats`` and logged rarely. A datagram
that UDP delivers out of order is dropped as replayed: like a lost one, the
next full sync repairs what it carried.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kumo import pollwait
from kumo.compiler import names
from kumo.compiler.ha import ha_routers
from kumo.compiler.model import ClusterView
from kumo.dataplane import netns
from kumo.ha import ctsync, seal

log = logging.getLogger("kumo.ha")


@dataclass(frozen=True)
class Active:
    """A router this host is active for."""

    netns: str
    standbys: tuple[str, ...]
    """Tunnel addresses of its standby hosts."""


@dataclass(frozen=True)
class Standby:
    netns: str
    gateways: Mapping[str, str]
    """The router's other gateway hosts → their tunnel addresses: who may
    send for it."""
    active: str | None
    """The active host, when known: datagrams from the other gateway hosts
    are ignored."""


def roles(
    host: str, view: ClusterView, active_hosts: Mapping[str, str | None]
) -> tuple[dict[str, Active], dict[str, Standby]]:
    """What ``update`` wants, from the liveness view (router → active host)."""
    active: dict[str, Active] = {}
    standby: dict[str, Standby] = {}
    me = view.hosts.get(host)
    my_ip = me.tunnel_ip if me else None
    for rid, router in ha_routers(view).items():
        if host not in router.gateway_hosts or not router.admin_state_up:
            continue
        ns = names.snat_netns(host, rid) if router.distributed else names.router_netns(host, rid)
        holder = active_hosts.get(rid)
        if holder == host:
            ips = (view.hosts[h].tunnel_ip for h in router.gateway_hosts if h in view.hosts)
            peers = tuple(sorted(ip for ip in ips if ip and ip != my_ip))
            active[rid] = Active(ns, peers)
        else:
            known = {h: view.hosts[h].tunnel_ip for h in router.gateway_hosts if h in view.hosts}
            gateways = {h: ip for h, ip in known.items() if ip and h != host}
            standby[rid] = Standby(ns, gateways, holder if holder in gateways else None)
    return active, standby


class StateSync:
    def __init__(
        self,
        host: str,
        bind_ip: str,
        port: int,
        *,
        key: seal.ClusterKey,
        host_netns: str | None = None,
        resync: float = 5.0,
        wall: seal.Wall = time.time_ns,
    ) -> None:
        self.host = host
        self.bind_ip = bind_ip
        self.port = port
        self.host_netns = host_netns
        self.resync = resync
        self._lock = threading.Lock()
        self._active: dict[str, Active] = {}
        self._standby: dict[str, Standby] = {}
        self._watchers: dict[str, ctsync.Watcher] = {}
        self._senders: dict[str, str] = {}
        """router → the host its last datagram came from."""
        self._seq: dict[str, int] = {}
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stats = {"sent": 0, "received": 0, "applied": 0, "ignored": 0, "errors": 0}
        self._sealer = seal.Sealer(key, host, seal.CTSYNC, wall=wall)
        self._opener = seal.Opener(key, seal.CTSYNC, wall=wall)
        self._drops = seal.Drops(f"{host}: state sync", self.stats)

    def start(self) -> None:
        self._sock = netns.socket_in(self.host_netns, socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self._sock.bind((self.bind_ip, self.port))
        self._thread = threading.Thread(target=self._receive, name="kumo-statesync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            watchers, self._watchers = dict(self._watchers), {}
        for watcher in watchers.values():
            watcher.stop()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._sock is not None:
            self._sock.close()

    def update(self, active: Mapping[str, Active], standby: Mapping[str, Standby]) -> None:
        with self._lock:
            self._active = dict(active)
            self._standby = dict(standby)
            stale = [r for r, w in self._watchers.items()
                     if r not in active or w.netns != active[r].netns]  # fmt: skip
            gone = [self._watchers.pop(r) for r in stale]
            fresh = [r for r in active if r not in self._watchers]
        for watcher in gone:
            watcher.stop()
        for rid in fresh:
            self._watch(rid, active[rid].netns)

    def _watch(self, router_id: str, ns: str) -> None:
        def send(upserts: Sequence[ctsync.Entry], deletes: Sequence[ctsync.Entry]) -> None:
            self._send(router_id, upserts, deletes)

        watcher = ctsync.Watcher(ns, send, resync=self.resync)
        try:
            watcher.start()
        except OSError as exc:  # the namespace is not there yet: the next pass retries
            log.warning("statesync: cannot follow %s: %s", ns, exc)
            return
        with self._lock:
            self._watchers[router_id] = watcher

    def _send(
        self, router_id: str, upserts: Sequence[ctsync.Entry], deletes: Sequence[ctsync.Entry]
    ) -> None:
        with self._lock:
            target = self._active.get(router_id)
            seq = self._seq.get(router_id, 0)
            sock = self._sock
        if target is None or sock is None or not target.standbys:
            return
        room = ctsync.MAX_DATAGRAM - self._sealer.overhead
        datagrams = ctsync.encode(
            list(upserts), list(deletes), router_id=router_id, seq=seq, max_size=room
        )
        with self._lock:
            self._seq[router_id] = seq + len(datagrams)
        for payload in datagrams:
            data = self._sealer.seal(payload)
            for ip in target.standbys:
                try:
                    sock.sendto(data, (ip, self.port))
                    self.stats["sent"] += 1
                except OSError:
                    self.stats["errors"] += 1

    def _receive(self) -> None:
        sock = self._sock
        assert sock is not None
        while not self._stop.is_set():
            try:
                readable = pollwait.readable([sock], 0.2)
                if not readable:
                    continue
                data, addr = sock.recvfrom(65536)
            except OSError:
                return
            self.stats["received"] += 1
            admitted = self.admit(data, addr[0])
            if admitted is None:
                continue
            standby, flush, upserts, deletes = admitted
            try:
                if flush:
                    ctsync.flush(standby.netns)
                result = ctsync.apply(standby.netns, upserts, deletes)
                self.stats["applied"] += len(upserts) + len(deletes) - len(result.failed)
            except OSError as exc:
                self.stats["errors"] += 1
                log.warning("statesync: applying to %s: %s", standby.netns, exc)

    def admit(
        self, data: bytes, source: str
    ) -> tuple[Standby, bool, list[ctsync.Entry], list[ctsync.Entry]] | None:
        """Check one datagram from ``source``: (the standby copy it is for,
        whether to empty that copy first, upserts, deletes), or None when it
        is dropped or ignored."""
        try:
            opened = self._opener.open(data)
            router_id, _seq, upserts, deletes = ctsync.decode(opened.payload)
        except seal.Rejected as exc:
            self._drops.drop(exc.reason, source, exc.detail)
            return None
        except ValueError as exc:
            self._drops.drop("forged", source, f"sealed, but {exc}")
            return None
        sender = opened.sender
        with self._lock:
            standby = self._standby.get(router_id)
            if standby is None:
                self.stats["ignored"] += 1  # not (or no longer) a standby of that router
                return None
            if standby.gateways.get(sender) != source:
                why = f"{sender!r} from {source} is not a gateway host of router {router_id}"
                self._drops.drop("foreign", source, why)
                return None
            if standby.active not in (None, sender):
                self.stats["ignored"] += 1  # a gateway host that is no longer active
                return None
            if not self._opener.fresh((sender, router_id), opened.stamp):
                self._drops.drop("replayed", source, f"{sender} for {router_id}, seen before")
                return None
            previous = self._senders.get(router_id)
            self._senders[router_id] = sender
        return standby, previous != sender, upserts, deletes
