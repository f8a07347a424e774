"""A gateway host's uplink table (``netdev kumo_snatgw``) on a real kernel:
frames sent into a veth's far end arrive on the uplink's ingress; what the
table forwards comes back out of the far end, read there from a packet
socket. Leased return traffic and the ICMP errors quoting it leave for the
owning host's leg with the gateway's MAC as source; what no block holds,
and what a gateway forwarded already, is not sent back."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from kumo.compiler.plan import HostPlan, SnatGateway, UplinkForward
from kumo.dataplane import netns
from kumo.dataplane.driver import Dataplane
from kumo.dataplane.fake import FakeKernel
from kumo.dataplane.nftables import snatgw
from kumo.dataplane.nftables.port import FakeNft, NftCommands

ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="needs root and network namespaces")

EXT_IP = "203.0.113.10"
UPSTREAM_MAC = "02:00:00:00:00:01"
GW_MAC = "fa:16:3e:00:09:09"
OWNER = "fa:17:00:00:00:c1"
LOCAL = "fa:17:00:00:00:99"
GATEWAY = SnatGateway(
    (
        UplinkForward("up0", EXT_IP, 1024, 1087, OWNER, GW_MAC),
        UplinkForward("up0", EXT_IP, 1088, 1151, LOCAL, GW_MAC, local=True),
    )
)


@pytest.fixture
def uplink() -> Iterator[tuple[str, socket.socket]]:
    """A namespace whose ``up0`` has its far end ``far0`` there too, and a
    packet socket on ``far0``."""
    name = f"ksg-{uuid.uuid4().hex[:8]}"
    netns.create(name)
    try:

        def ip(*args: str) -> None:
            subprocess.run(["ip", "-n", name, *args], check=True, capture_output=True)

        ip("link", "add", "up0", "type", "veth", "peer", "name", "far0")
        ip("link", "set", "up0", "up")
        ip("link", "set", "far0", "up")
        NftCommands(name, in_process=False).apply_script(snatgw.gateway_script(GATEWAY))
        sock = netns.socket_in(name, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
        sock.bind(("far0", 0))
        sock.settimeout(0.2)
        try:
            yield name, sock
        finally:
            sock.close()
    finally:
        netns.remove(name)


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF


def _ipv4(src: str, dst: str, proto: int, payload: bytes) -> bytes:
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0,
                       socket.inet_aton(src), socket.inet_aton(dst))  # fmt: skip
    head = head[:10] + struct.pack("!H", _checksum(head)) + head[12:]
    return head + payload


def _tcp(sport: int, dport: int) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 1, 0x50, 0x10, 1000, 0, 0)


def _udp(sport: int, dport: int) -> bytes:
    return struct.pack("!HHHH", sport, dport, 9, 0) + b"x"


def _frame(src_mac: str, packet: bytes) -> bytes:
    return _mac(GW_MAC) + _mac(src_mac) + b"\x08\x00" + packet


def _icmp_error(quoted: bytes, kind: int = 3, code: int = 3, rest: int = 0) -> bytes:
    """Port unreachable by default; the quoted header and 8 bytes of data."""
    body = struct.pack("!BBHI", kind, code, 0, rest) + quoted[:28]
    return body[:2] + struct.pack("!H", _checksum(body)) + body[4:]


def _returned(sock: socket.socket, frame: bytes) -> list[bytes]:
    """Sends ``frame`` towards ``up0``; the frames that come back."""
    while True:  # drain
        try:
            sock.recv(2048)
        except TimeoutError:
            break
    sock.send(frame)
    got = []
    while True:
        try:
            data, address = sock.recvfrom(2048)
        except TimeoutError:
            return got
        if address[2] != socket.PACKET_OUTGOING:  # not the frame sent
            got.append(data)


@ROOT
def test_leased_return_traffic_and_its_icmp_errors_go_to_the_owner(
    uplink: tuple[str, socket.socket],
) -> None:
    _, sock = uplink
    tcp = _ipv4("198.51.100.7", EXT_IP, 6, _tcp(443, 1030))
    back = _returned(sock, _frame(UPSTREAM_MAC, tcp))
    assert [(f[:6], f[6:12], f[14:]) for f in back] == [(_mac(OWNER), _mac(GW_MAC), tcp)]

    # port unreachable for a datagram the owner sent from port 1050
    sent = _ipv4(EXT_IP, "198.51.100.7", 17, _udp(1050, 53))
    error = _ipv4("198.51.100.7", EXT_IP, 1, _icmp_error(sent))
    back = _returned(sock, _frame(UPSTREAM_MAC, error))
    assert [(f[:6], f[14:]) for f in back] == [(_mac(OWNER), error)]
    # fragmentation needed (next-hop MTU 1400) for a TCP segment from 1040
    sent = _ipv4(EXT_IP, "198.51.100.7", 6, _tcp(1040, 443))
    error = _ipv4("198.51.100.7", EXT_IP, 1, _icmp_error(sent, 3, 4, 1400))
    back = _returned(sock, _frame(UPSTREAM_MAC, error))
    assert [(f[:6], f[14:]) for f in back] == [(_mac(OWNER), error)]
    # time exceeded for an echo request with identifier 1060
    echo = struct.pack("!BBHHH", 8, 0, 0, 1060, 1)
    sent = _ipv4(EXT_IP, "198.51.100.7", 1, echo)
    error = _ipv4("198.51.100.7", EXT_IP, 1, _icmp_error(sent, 11, 0))
    back = _returned(sock, _frame(UPSTREAM_MAC, error))
    assert [(f[:6], f[14:]) for f in back] == [(_mac(OWNER), error)]
    # an error quoting a port no block holds stays
    sent = _ipv4(EXT_IP, "198.51.100.7", 17, _udp(61500, 53))
    error = _ipv4("198.51.100.7", EXT_IP, 1, _icmp_error(sent))
    assert _returned(sock, _frame(UPSTREAM_MAC, error)) == []


@ROOT
def test_unleased_local_and_already_forwarded_frames_are_not_sent_back(
    uplink: tuple[str, socket.socket],
) -> None:
    _, sock = uplink
    outside = _ipv4("198.51.100.7", EXT_IP, 6, _tcp(443, 61500))  # the gateway's own range
    assert _returned(sock, _frame(UPSTREAM_MAC, outside)) == []
    local = _ipv4("198.51.100.7", EXT_IP, 6, _tcp(443, 1100))  # this host's block: the bridge's
    assert _returned(sock, _frame(UPSTREAM_MAC, local)) == []
    again = _ipv4("198.51.100.7", EXT_IP, 6, _tcp(443, 1030))  # from a gateway already
    assert _returned(sock, _frame(GW_MAC, again)) == []


def test_the_reconciler_writes_once_and_removes_the_table_when_unneeded() -> None:
    """On the fake kernel (no root needed): written when its fingerprint
    is missing, left alone when present, removed with no block left."""
    host_nft = FakeNft()
    dp = Dataplane(FakeKernel(), "g", nft_for=lambda ns: host_nft if ns == "" else FakeNft())
    plan = HostPlan(host="g", snat_gateway=GATEWAY)
    assert dp.apply(plan).ok
    assert host_nft.scripts == [snatgw.gateway_script(GATEWAY)]
    dp.resync()
    assert dp.apply(plan).ok
    assert len(host_nft.scripts) == 1  # in place
    assert dp.apply(HostPlan(host="g")).ok
    assert host_nft.scripts[-1] == snatgw.remove_script()
    assert not host_nft.has_table("netdev", snatgw.TABLE)
