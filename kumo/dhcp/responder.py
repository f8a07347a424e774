"""The DHCP responder of one host: one raw socket in the host namespace, a
classic BPF filter so only DHCP client frames (UDP to port 67) reach user
space, answers sent straight back out of the port they came in on (they
never cross the bridge, the tunnel, or another host).

The frame's interface tells which port asked; only ports with a lease in
the current plan (this host's instance ports on DHCP subnets) are
answered, and only for their own MAC.
"""

from __future__ import annotations

import ctypes
import logging
import operator
import socket
import struct
import threading
import time
from collections.abc import Iterable

from kumo import pollwait
from kumo.compiler.plan import Dhcp6Lease, DhcpLease, RouterAdvert
from kumo.dataplane import netns
from kumo.dhcp import codec, dhcp6, ra, server

log = logging.getLogger("kumo.dhcp")

ETH_P_ALL = 0x0003
"""All protocols: a socket for one protocol only sees a bridge port's frames
after the bridge (on the bridge device); ``ETH_P_ALL`` taps see them on the
port itself, and the filter keeps everything but DHCP in the kernel."""
SO_ATTACH_FILTER = 26
SOL_PACKET = 263
PACKET_IGNORE_OUTGOING = 23
PACKET_OUTGOING = 4
SERVER_MAC = "fa:16:3e:ff:ff:fe"
"""Source MAC of the answers (they come from 'the network', not a port)."""

# IPv4: ldh [12]; jeq #0x800; ldb [23]; jeq #17; ldh [20]; jset #0x1fff
# (fragment); ldxb 4*([14]&0xf); ldh [x+16]; jeq #67 (DHCP server port).
# IPv6: jeq #0x86dd; ldb [20] (next header); jeq #58 → ldb [54]; jeq #133
# (router solicitation); else jeq #17 → ldh [56]; jeq #547 (DHCPv6 server).
_BPF = (
    (0x28, 0, 0, 12), (0x15, 0, 7, 0x0800), (0x30, 0, 0, 23), (0x15, 0, 14, 17),
    (0x28, 0, 0, 20), (0x45, 12, 0, 0x1FFF), (0xB1, 0, 0, 14), (0x48, 0, 0, 16),
    (0x15, 8, 9, 67),
    (0x15, 0, 8, 0x86DD), (0x30, 0, 0, 20), (0x15, 0, 2, 58), (0x30, 0, 0, 54),
    (0x15, 3, 4, 133), (0x15, 0, 3, 17), (0x28, 0, 0, 56), (0x15, 0, 1, 547),
    (0x06, 0, 0, 0x40000), (0x06, 0, 0, 0),
)  # fmt: skip


def _attach_filter(sock: socket.socket) -> ctypes.Array[ctypes.c_char]:
    program = b"".join(struct.pack("HBBI", *insn) for insn in _BPF)
    buf = ctypes.create_string_buffer(program)
    fprog = struct.pack("HL", len(_BPF), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    return buf  # the kernel copies it, but keep it for the socket's life anyway


class Responder:
    def __init__(self, host_netns: str | None = None) -> None:
        self.host_netns = host_netns
        self._leases: dict[str, DhcpLease] = {}
        self._adverts: dict[str, RouterAdvert] = {}
        self._leases6: dict[str, Dhcp6Lease] = {}
        self._given: tuple[object, ...] = (None, None, None)
        self._advertised: set[RouterAdvert] = set()
        self.advert_interval = 30.0
        """Seconds between unsolicited router advertisements."""
        self._next_adverts = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stats = {"received": 0, "answered": 0, "ignored": 0, "malformed": 0, "adverts": 0}
        self.sock = netns.socket_in(
            host_netns, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)
        )
        self._filter = _attach_filter(self.sock)
        # Frames the host sends (the bridge flooding a client's broadcast out
        # of every other port, our own answers) never reach user space.
        self.sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        self.sock.setblocking(False)

    def update(
        self,
        leases: Iterable[DhcpLease],
        adverts: Iterable[RouterAdvert] = (),
        leases6: Iterable[Dhcp6Lease] = (),
    ) -> None:
        """Answer for exactly these leases (and advertise these) from now on.
        The same sets as last time (a pass that changed none of them: the
        compiler hands back the very sets it made last) are taken as they
        were, without indexing every lease again."""
        given = (leases, adverts, leases6)
        if all(map(operator.is_, given, self._given)):
            return
        self._given = given
        fresh = {lease.ifname: lease for lease in leases}
        ads = {a.ifname: a for a in adverts}
        six = {lease.ifname: lease for lease in leases6}
        with self._lock:
            self._leases = fresh
            self._adverts = ads
            self._leases6 = six

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="dhcp", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.sock.close()

    def run(self) -> None:
        while not self._stop.is_set():
            self._advertise()
            ready = pollwait.readable([self.sock], 0.2)
            if not ready:
                continue
            while True:
                try:
                    data, addr = self.sock.recvfrom(2048)
                except BlockingIOError:
                    break
                except OSError as exc:
                    log.warning("dhcp: receive failed: %s", exc)
                    break
                self.handle(data, addr)

    def _handle6(self, data: bytes, ifname: str) -> bytes | None:
        with self._lock:
            lease6 = self._leases6.get(ifname)
        if lease6 is None:
            self.stats["ignored"] += 1
            return None
        try:
            message = dhcp6.parse_frame(data)
        except (dhcp6.Malformed, ValueError, struct.error, OSError):
            self.stats["malformed"] += 1
            return None
        reply6 = dhcp6.reply_frame(message, lease6)
        if reply6 is None or not self._send(reply6, ifname):
            self.stats["ignored"] += 1
            return None
        self.stats["answered"] += 1
        return reply6

    def _advertise(self) -> None:
        """New adverts at once (a new port, a changed subnet); all of them
        every ``advert_interval`` seconds."""
        now = time.monotonic()
        with self._lock:
            adverts = list(self._adverts.values())
        due = adverts if now >= self._next_adverts else [
            a for a in adverts if a not in self._advertised
        ]  # fmt: skip
        if now >= self._next_adverts:
            self._next_adverts = now + self.advert_interval
        for advert in due:
            self._send(ra.advert_frame(advert), advert.ifname)
            self.stats["adverts"] += 1
        self._advertised = set(adverts)

    def _send(self, frame: bytes, ifname: str) -> bool:
        try:
            self.sock.sendto(frame, (ifname, 0))
            return True
        except OSError as exc:
            log.warning("dhcp: sending on %s failed: %s", ifname, exc)
            return False

    def handle(self, data: bytes, addr: tuple[object, ...]) -> bytes | None:
        ifname, pkttype = str(addr[0]), int(addr[2])  # type: ignore[call-overload]
        if pkttype == PACKET_OUTGOING:
            return None  # our own answers, or the bridge flooding a request out
        self.stats["received"] += 1
        if ra.is_solicitation(data):
            with self._lock:
                advert = self._adverts.get(ifname)
            if advert is None:
                self.stats["ignored"] += 1
                return None
            frame = ra.advert_frame(advert)
            if self._send(frame, ifname):
                self.stats["adverts"] += 1
            return frame
        if data[12:14] == b"\x86\xdd":
            return self._handle6(data, ifname)
        with self._lock:
            lease = self._leases.get(ifname)
        if lease is None:
            self.stats["ignored"] += 1
            return None
        try:
            request = codec.parse_frame(data)
        except (codec.Malformed, ValueError, struct.error):
            self.stats["malformed"] += 1
            return None
        reply = server.reply_frame(request, lease, SERVER_MAC)
        if reply is None:
            self.stats["ignored"] += 1
            return None
        if not self._send(reply, ifname):
            return None
        self.stats["answered"] += 1
        return reply
