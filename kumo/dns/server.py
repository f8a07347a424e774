"""The resolver of one host: UDP sockets bound to 169.254.169.254:53 and
[fe80::a9fe:a9fe]:53 (on the leg ``eth0``) in every metadata namespace the
plan has a zone for (``IP_FREEBIND``, so they may open before the
address is there), and one thread that answers them all
(``answers.answer``: pure).

Who asks is known from the socket (its namespace is one network's) and
the source address (one of the zone's askers: this host's instance ports
there, by fixed IP or, over IPv6, by the link-local address of their MAC;
the host firewall keeps ports with port security from sending from
addresses that are not theirs).

``update`` (the agent calls it with each plan, before the dataplane runs)
closes the sockets of zones that left, since an open socket would keep a
removed namespace, and its veth pair, alive; ``ensure`` (after the
dataplane ran) opens the sockets of new zones, and reopens one whose
namespace was recreated (its inode changed).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from kumo import pollwait
from kumo.compiler.metadata import METADATA_IFNAME, METADATA_IP, METADATA_IP6
from kumo.compiler.plan import DnsZone
from kumo.dataplane import netns
from kumo.dns.answers import answer

log = logging.getLogger("kumo.dns")

IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)
PORT = 53


@dataclass
class _Bound:
    socks: tuple[socket.socket, ...]
    inode: int

    def close(self) -> None:
        for sock in self.socks:
            sock.close()


def asker(addr: tuple[str, ...]) -> str:
    """The source address of a datagram, without an IPv6 zone (``%eth0``)."""
    return str(addr[0]).split("%", 1)[0]


class Resolver:
    def __init__(
        self, port: int = PORT, address: str = METADATA_IP, address6: str | None = METADATA_IP6
    ) -> None:
        """``address6``: the link-local address to answer on too (None: IPv4 only)."""
        self.port = port
        self.address = address
        self.address6 = address6
        self._zones: dict[str, DnsZone] = {}
        self._bound: dict[str, _Bound] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stats = {"queries": 0, "answered": 0, "dropped": 0}

    def update(self, zones: Iterable[DnsZone]) -> None:
        """Answer exactly these zones from now on; close the sockets of the
        ones that left at once."""
        fresh = {z.netns: z for z in zones}
        with self._lock:
            self._zones = fresh
            leaving = [self._bound.pop(ns) for ns in list(self._bound) if ns not in fresh]
        for bound in leaving:
            bound.close()

    def ensure(self) -> None:
        """Open a socket in every zone's namespace that has none (or a stale one)."""
        with self._lock:
            wanted = list(self._zones)
            bound = dict(self._bound)
        for ns in wanted:
            try:
                inode = os.stat(netns.path(ns)).st_ino
            except OSError:
                continue  # not there (yet)
            old = bound.get(ns)
            if old is not None and old.inode == inode:
                continue
            try:
                socks = [self._open(ns)]
            except OSError as exc:
                log.warning("dns: cannot listen in %s: %s", ns, exc)
                continue
            if self.address6 is not None:
                try:
                    socks.append(self._open6(ns, self.address6))
                except OSError as exc:  # IPv4 goes on; the next pass tries again
                    log.warning("dns: cannot listen on IPv6 in %s: %s", ns, exc)
                    inode = -1
            fresh = _Bound(tuple(socks), inode)
            with self._lock:
                if ns not in self._zones:
                    fresh.close()
                    continue
                stale = self._bound.get(ns)
                self._bound[ns] = fresh
            if stale is not None:
                stale.close()

    def _open(self, ns: str) -> socket.socket:
        sock = netns.socket_in(ns, socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
            sock.bind((self.address, self.port))
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    def _open6(self, ns: str, address: str) -> socket.socket:
        """A socket on ``address`` (link-local) of the namespace's leg: bound
        to the device, which gives the address its zone."""
        sock = netns.socket_in(ns, socket.AF_INET6, socket.SOCK_DGRAM)
        try:
            netns.bind_on_link(sock, address, self.port, METADATA_IFNAME)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return sock

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="dns", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.update(())

    def run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                bound = [(ns, s) for ns, b in self._bound.items() for s in b.socks]
            if not bound:
                self._stop.wait(0.2)
                continue
            try:
                ready = set(pollwait.readable([s for _, s in bound], 0.2))
            except (OSError, ValueError):
                continue  # a socket closed under the poll: take the list again
            for ns, sock in bound:
                if sock.fileno() in ready:
                    self._serve(ns, sock)

    def _serve(self, ns: str, sock: socket.socket) -> None:
        for _ in range(64):
            try:
                data, addr = sock.recvfrom(1500)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # closed by update
            self.stats["queries"] += 1
            with self._lock:
                zone = self._zones.get(ns)
            reply = answer(zone, asker(addr), data) if zone is not None else None
            if reply is None:
                self.stats["dropped"] += 1
                continue
            try:
                sock.sendto(reply, addr)
                self.stats["answered"] += 1
            except OSError as exc:
                log.debug("dns: reply to %s in %s failed: %s", addr, ns, exc)
