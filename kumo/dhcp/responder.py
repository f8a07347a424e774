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
import select
import socket
import struct
import threading
from collections.abc import Iterable

from kumo.compiler.plan import DhcpLease
from kumo.dataplane import netns
from kumo.dhcp import codec, server

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

# ldh [12]; jeq #0x800; ldb [23]; jeq #17; ldh [20]; jset #0x1fff (fragment);
# ldxb 4*([14]&0xf); ldh [x+16] (UDP destination port); jeq #67; accept / drop.
_BPF = (
    (0x28, 0, 0, 12), (0x15, 0, 8, 0x0800), (0x30, 0, 0, 23), (0x15, 0, 6, 17),
    (0x28, 0, 0, 20), (0x45, 4, 0, 0x1FFF), (0xB1, 0, 0, 14), (0x48, 0, 0, 16),
    (0x15, 0, 1, 67), (0x06, 0, 0, 0x40000), (0x06, 0, 0, 0),
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
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.stats = {"received": 0, "answered": 0, "ignored": 0, "malformed": 0}
        self.sock = netns.socket_in(
            host_netns, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL)
        )
        self._filter = _attach_filter(self.sock)
        # Frames the host sends (the bridge flooding a client's broadcast out
        # of every other port, our own answers) never reach user space.
        self.sock.setsockopt(SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
        self.sock.setblocking(False)

    def update(self, leases: Iterable[DhcpLease]) -> None:
        """Answer for exactly these leases from now on."""
        fresh = {lease.ifname: lease for lease in leases}
        with self._lock:
            self._leases = fresh

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
            ready, _, _ = select.select([self.sock], [], [], 0.5)
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

    def handle(self, data: bytes, addr: tuple[object, ...]) -> bytes | None:
        ifname, pkttype = str(addr[0]), int(addr[2])  # type: ignore[call-overload]
        if pkttype == PACKET_OUTGOING:
            return None  # our own answers, or the bridge flooding a request out
        self.stats["received"] += 1
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
        try:
            self.sock.sendto(reply, (ifname, 0))
        except OSError as exc:
            log.warning("dhcp: answering on %s failed: %s", ifname, exc)
            return None
        self.stats["answered"] += 1
        return reply
