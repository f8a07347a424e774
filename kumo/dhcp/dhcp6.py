"""DHCPv6 (RFC 8415) for one port: frames in, frames out. Pure.

SOLICIT → ADVERTISE, REQUEST/RENEW/REBIND/CONFIRM → REPLY with the port's
address in the client's IA_NA (stateful subnets); INFORMATION-REQUEST →
REPLY with DNS servers and the domain (stateless and stateful). The server
DUID is a DUID-LL of the answering MAC.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from kumo.compiler.firewall import link_local
from kumo.compiler.plan import Dhcp6Lease
from kumo.dhcp.codec import checksum

SOLICIT, ADVERTISE, REQUEST, CONFIRM, RENEW, REBIND, REPLY = 1, 2, 3, 4, 5, 6, 7
RELEASE, DECLINE, INFORMATION_REQUEST = 8, 9, 11
OPT_CLIENTID, OPT_SERVERID, OPT_IA_NA, OPT_IAADDR, OPT_STATUS = 1, 2, 3, 5, 13
OPT_DNS, OPT_DOMAINS = 23, 24
STATUS_NO_ADDRS = 2
ETH_IPV6 = 0x86DD


class Malformed(ValueError):
    pass


@dataclass(frozen=True)
class Message:
    msg_type: int
    xid: bytes
    options: dict[int, bytes]
    src_mac: str
    src_ip: str


def parse_frame(frame: bytes) -> Message:
    if len(frame) < 14 + 40 + 8 + 4 or struct.unpack_from("!H", frame, 12)[0] != ETH_IPV6:
        raise Malformed("not IPv6")
    if frame[20] != 17:
        raise Malformed("not UDP")
    if struct.unpack_from("!H", frame, 56)[0] != 547:
        raise Malformed("not to port 547")
    data = frame[62:]
    options: dict[int, bytes] = {}
    i = 4
    while i + 4 <= len(data):
        code, length = struct.unpack_from("!HH", data, i)
        options[code] = data[i + 4 : i + 4 + length]
        i += 4 + length
    return Message(
        data[0],
        data[1:4],
        options,
        ":".join(f"{b:02x}" for b in frame[6:12]),
        socket.inet_ntop(socket.AF_INET6, frame[22:38]),
    )


def _opt(code: int, value: bytes) -> bytes:
    return struct.pack("!HH", code, len(value)) + value


def duid(mac: str) -> bytes:
    return struct.pack("!HH", 3, 1) + bytes.fromhex(mac.replace(":", ""))


def _domain(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.strip(".").split(".") if p) + b"\x00"


def answer(msg: Message, lease: Dhcp6Lease) -> bytes | None:
    """The DHCPv6 payload to send back, or None."""
    if msg.src_mac != lease.mac or OPT_CLIENTID not in msg.options:
        return None
    server = duid(lease.server_mac)
    if msg.msg_type in (REQUEST, RENEW) and msg.options.get(OPT_SERVERID) not in (None, server):
        return None  # meant for another server
    if msg.msg_type in (RELEASE, DECLINE):
        return None
    common = _opt(OPT_CLIENTID, msg.options[OPT_CLIENTID]) + _opt(OPT_SERVERID, server)
    if lease.dns:
        common += _opt(OPT_DNS, b"".join(socket.inet_pton(socket.AF_INET6, d) for d in lease.dns))
    if lease.domain:
        common += _opt(OPT_DOMAINS, _domain(lease.domain))
    if msg.msg_type == INFORMATION_REQUEST:
        return bytes([REPLY]) + msg.xid + common
    if msg.msg_type not in (SOLICIT, REQUEST, RENEW, REBIND, CONFIRM):
        return None
    reply_type = ADVERTISE if msg.msg_type == SOLICIT else REPLY
    ia = msg.options.get(OPT_IA_NA)
    if ia is None or len(ia) < 12:
        return bytes([reply_type]) + msg.xid + common
    iaid = ia[:4]
    if lease.ip is None:
        status = _opt(OPT_STATUS, struct.pack("!H", STATUS_NO_ADDRS) + b"no addresses here")
        return bytes([reply_type]) + msg.xid + common + _opt(OPT_IA_NA, iaid + bytes(8) + status)
    t1, t2 = lease.lease_time // 2, lease.lease_time * 4 // 5
    addr = _opt(OPT_IAADDR, socket.inet_pton(socket.AF_INET6, lease.ip)
                + struct.pack("!II", lease.lease_time, lease.lease_time))  # fmt: skip
    return (
        bytes([reply_type])
        + msg.xid
        + common
        + _opt(OPT_IA_NA, iaid + struct.pack("!II", t1, t2) + addr)
    )


def reply_frame(msg: Message, lease: Dhcp6Lease) -> bytes | None:
    payload = answer(msg, lease)
    if payload is None:
        return None
    src = socket.inet_pton(socket.AF_INET6, link_local(lease.server_mac).split("/")[0])
    dst = socket.inet_pton(socket.AF_INET6, msg.src_ip)
    udp = struct.pack("!HHHH", 547, 546, 8 + len(payload), 0) + payload
    pseudo = src + dst + struct.pack("!I3xB", len(udp), 17)
    # a computed zero is sent as 0xFFFF: zero means "no checksum" in UDP
    udp = udp[:6] + struct.pack("!H", checksum(pseudo + udp) or 0xFFFF) + udp[8:]
    ip6 = struct.pack("!IHBB", 0x60000000, len(udp), 17, 255) + src + dst
    eth = bytes.fromhex(msg.src_mac.replace(":", "")) + bytes.fromhex(
        lease.server_mac.replace(":", "")
    )
    return eth + struct.pack("!H", ETH_IPV6) + ip6 + udp
