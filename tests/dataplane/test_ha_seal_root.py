"""Root test: forged, foreign and replayed beats on the real underlay move no gateway.

The lab of ``test_ha_root`` (a: compute; b, c: the router's gateway hosts),
each host beating with the cluster key. From host a's namespace a raw
socket sends beats with any source address it likes, as anything on the
underlay could: unsealed beats in the old format and beats sealed with
another key or tampered with (forged); beats sealed with the key by a
host that is no gateway of the router, or naming a host it is not
(foreign); and genuine beats of b captured on the underlay and sent again
after b restarted (replayed). Each would have moved the router without the
seal; with it, every host's view of the active gateway stays put and the
receivers count what they dropped.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
import time
from collections.abc import Callable

import pytest

from kumo.dataplane import netns
from kumo.ha import seal
from kumo.ha.liveness import Beat
from kumo.ha.seal import ClusterKey, Opener, Sealer
from tests.dataplane.ha_nodes import HaNode, wait_for
from tests.dataplane.test_ha_root import FAST, HaSetup, R, ha  # noqa: F401 - the lab fixture

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]

ETH_P_IP = 0x0800
FOREVER_MS = 10**9
Datagram = tuple[str, str, bytes]


def udp_packet(src: str, dst: str, payload: bytes, dport: int = FAST.port) -> bytes:
    """An IPv4/UDP packet for a raw socket (the kernel fills in the IP checksum)."""
    udp = struct.pack("!HHHH", 40000, dport, 8 + len(payload), 0) + payload
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, socket.IPPROTO_UDP,
                         0, socket.inet_aton(src), socket.inet_aton(dst))  # fmt: skip
    return header + udp


class Spoofer:
    """Sends UDP with any source address from a namespace (a raw socket)."""

    def __init__(self, ns: str) -> None:
        self.sock = netns.socket_in(ns, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)

    def flood(self, datagrams: Callable[[], list[Datagram]], seconds: float = 1.2) -> int:
        """Send the ``(source, destination, payload)`` that ``datagrams()``
        makes, up to 200 rounds a second; how many rounds were sent."""
        rounds = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for src, dst, payload in datagrams():
                self.sock.sendto(udp_packet(src, dst, payload), (dst, 0))
            rounds += 1
            time.sleep(0.005)
        return rounds

    def close(self) -> None:
        self.sock.close()


class Capture:
    """Beats from ``src`` seen on a host's underlay interface."""

    def __init__(self, ns: str, src: str) -> None:
        self.sock = netns.socket_in(ns, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
        self.sock.bind(("eth0", ETH_P_IP))
        self.sock.settimeout(0.1)
        self.src = socket.inet_aton(src)
        self.beats: list[bytes] = []

    def run(self, seconds: float) -> list[bytes]:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                frame = self.sock.recv(4096)
            except TimeoutError:
                continue
            ip = frame[14:]
            ihl = (ip[0] & 0x0F) * 4
            if ip[9] != socket.IPPROTO_UDP or ip[12:16] != self.src:
                continue
            if struct.unpack("!H", ip[ihl + 2 : ihl + 4])[0] == FAST.port:
                self.beats.append(ip[ihl + 8 :])
        self.sock.close()
        return self.beats


class Changes:
    """Every change of a node's view of the router's active gateway."""

    def __init__(self, nodes: list[HaNode]) -> None:
        self.seen: list[tuple[str, str | None]] = []
        for node in nodes:
            self._hook(node)

    def _hook(self, node: HaNode) -> None:
        kick: Callable[[], None] = node.live.on_change

        def changed() -> None:  # called from the beat thread right after the change
            self.seen.append((node.host, node.live.active().get(R)))
            kick()

        node.live.on_change = changed


def old_beat(host: str, *, quorum: bool = True, claims: dict[str, int] | None = None) -> bytes:
    """A beat as hosts sent them before the seal."""
    body = {"v": 1, "h": host, "s": 1, "q": quorum, "c": claims or {}, "l": False}
    return json.dumps(body).encode()


def counts(setup: HaSetup) -> dict[str, dict[str, int]]:
    return {h: {k: n.live.stats[k] for k in seal.REASONS} for h, n in setup.nodes.items()}


def test_forged_foreign_and_replayed_beats_move_no_gateway(ha: HaSetup) -> None:  # noqa: F811
    lab = ha.lab
    a, b, c = ha.a, ha.b, ha.c
    ip = lab.tunnel_ips
    for host in (a, b, c):
        ha.start(host)
    wait_for(lambda: ha.active() == {b}, timeout=5)
    spoofer = Spoofer(lab.hosts[a])
    try:
        # -- forged: b says it lost quorum, c says it holds the router since
        # forever, in the old format, sealed with another key, tampered with.
        changes = Changes(list(ha.nodes.values()))
        other = ClusterKey(os.urandom(32))
        claim_forever = Beat(c, 1, True, {R: FOREVER_MS / 1000}).encode()
        tampered = bytearray(Sealer(ha.key, c, seal.BEAT).seal(claim_forever))
        tampered[-40] ^= 1
        forged = [
            (ip[b], ip[c], old_beat(b, quorum=False)),
            (ip[c], ip[b], old_beat(c, claims={R: FOREVER_MS})),
            (ip[c], ip[b], Sealer(other, c, seal.BEAT).seal(claim_forever)),
            (ip[c], ip[a], bytes(tampered)),
        ]
        rounds = spoofer.flood(lambda: forged)
        time.sleep(2 * FAST.hold)
        assert changes.seen == [] and ha.active() == {b}
        dropped = counts(ha)
        assert dropped[b]["forged"] >= rounds and dropped[c]["forged"] >= rounds // 2
        assert dropped[a]["forged"] >= rounds // 2

        # -- foreign: a holds the key but is no gateway of the router; it
        # claims the router, and beats as b and as a host that does not exist.
        def foreign() -> list[Datagram]:  # sealed anew each round: fresh stamps
            a_claims = Sealer(ha.key, a, seal.BEAT).seal(Beat(a, 1, True, {R: 1e6}).encode())
            as_b = Sealer(ha.key, b, seal.BEAT).seal(Beat(b, 1, False).encode())
            nobody = Sealer(ha.key, "x9", seal.BEAT).seal(Beat("x9", 1, True).encode())
            return [(ip[a], ip[b], a_claims), (ip[a], ip[c], as_b), (ip[a], ip[c], nobody)]

        capture = Capture(lab.hosts[c], ip[b])
        captured: list[bytes] = []
        catcher = threading.Thread(target=lambda: captured.extend(capture.run(4.0)))
        catcher.start()
        rounds = spoofer.flood(foreign)
        time.sleep(2 * FAST.hold)
        assert changes.seen == [] and ha.active() == {b}
        dropped = counts(ha)
        assert dropped[b]["foreign"] >= rounds // 2 and dropped[c]["foreign"] >= rounds

        # -- replayed: b stops (c takes over) and comes back as a standby;
        # its beats from when it was active, sent again, claim the router
        # for longer than c has held it.
        catcher.join()
        opener = Opener(ha.key, seal.BEAT, window=3600)
        captured = captured[-10:]
        claims = [Beat.decode(opener.open(d).payload).claims.get(R) for d in captured]
        assert len(claims) == 10 and all(claims), "b's beats were not captured"
        ha.nodes[b].stop()
        wait_for(lambda: ha.active(b) == {c}, timeout=5)
        c_since = time.monotonic()
        ha.start(b)
        wait_for(lambda: ha.active() == {c}, timeout=5)
        time.sleep(2 * FAST.hold)  # b has listened and stays standby
        assert ha.active() == {c}
        assert min(claims) > time.monotonic() - c_since + 0.5, "the replay would not win"
        changes = Changes(list(ha.nodes.values()))
        replayed = [(ip[b], ip[dst], d) for d in captured for dst in (a, c)]
        rounds = spoofer.flood(lambda: replayed, seconds=1.5)
        time.sleep(2 * FAST.hold)
        assert changes.seen == [] and ha.active() == {c}
        dropped = counts(ha)
        assert dropped[c]["replayed"] >= rounds * 5 and dropped[a]["replayed"] >= rounds * 5
        for node in ha.nodes.values():
            assert not node.errors, node.errors
    finally:
        spoofer.close()
