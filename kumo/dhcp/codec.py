"""DHCPv4 on the wire: Ethernet/IPv4/UDP/BOOTP frames in and out. Pure."""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field

MAGIC = b"\x63\x82\x53\x63"
DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM = range(1, 9)
OPT_MASK, OPT_ROUTER, OPT_DNS, OPT_HOSTNAME, OPT_DOMAIN, OPT_MTU = 1, 3, 6, 12, 15, 26
OPT_REQUESTED_IP, OPT_LEASE, OPT_MSG_TYPE, OPT_SERVER_ID = 50, 51, 53, 54
OPT_RENEWAL, OPT_REBINDING, OPT_CLASSLESS, OPT_MS_CLASSLESS = 58, 59, 121, 249
BROADCAST_FLAG = 0x8000
ETH_IP = 0x0800


class Malformed(ValueError):
    pass


@dataclass(frozen=True)
class Request:
    """The parts of a client's BOOTREQUEST the server looks at."""

    msg_type: int
    xid: int
    chaddr: str
    ciaddr: str
    flags: int
    options: dict[int, bytes] = field(default_factory=dict)

    @property
    def requested_ip(self) -> str | None:
        raw = self.options.get(OPT_REQUESTED_IP)
        return socket.inet_ntoa(raw) if raw and len(raw) == 4 else None

    @property
    def server_id(self) -> str | None:
        raw = self.options.get(OPT_SERVER_ID)
        return socket.inet_ntoa(raw) if raw and len(raw) == 4 else None


def _mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def parse_frame(frame: bytes) -> Request:
    """A client's frame (Ethernet II, IPv4, UDP to port 67, BOOTP)."""
    if len(frame) < 14 + 20 + 8 + 240:
        raise Malformed("too short")
    if struct.unpack_from("!H", frame, 12)[0] != ETH_IP:
        raise Malformed("not IPv4")
    ihl = (frame[14] & 0x0F) * 4
    if frame[23] != 17:
        raise Malformed("not UDP")
    udp = 14 + ihl
    if struct.unpack_from("!H", frame, udp + 2)[0] != 67:
        raise Malformed("not to port 67")
    return parse_bootp(frame[udp + 8 :])


def parse_bootp(data: bytes) -> Request:
    if len(data) < 240 or data[0] != 1 or data[236:240] != MAGIC:
        raise Malformed("not a BOOTREQUEST with the DHCP cookie")
    xid = struct.unpack_from("!I", data, 4)[0]
    flags = struct.unpack_from("!H", data, 10)[0]
    ciaddr = socket.inet_ntoa(data[12:16])
    hlen = min(data[2], 16)
    chaddr = _mac(data[28 : 28 + hlen])
    options: dict[int, bytes] = {}
    i = 240
    while i < len(data):
        code = data[i]
        if code == 255:
            break
        if code == 0:
            i += 1
            continue
        if i + 1 >= len(data):
            raise Malformed("truncated option")
        length = data[i + 1]
        value = data[i + 2 : i + 2 + length]
        if len(value) != length:
            raise Malformed("truncated option")
        options[code] = options.get(code, b"") + value  # RFC 3396 concatenation
        i += 2 + length
    if OPT_MSG_TYPE not in options or len(options[OPT_MSG_TYPE]) != 1:
        raise Malformed("no message type")
    return Request(options[OPT_MSG_TYPE][0], xid, chaddr, ciaddr, flags, options)


def encode_options(options: list[tuple[int, bytes]]) -> bytes:
    out = bytearray()
    for code, value in options:
        for start in range(0, max(len(value), 1), 255):  # long values split (RFC 3396)
            chunk = value[start : start + 255]
            out += bytes([code, len(chunk)]) + chunk
    out.append(255)
    return bytes(out)


def bootp_reply(request: Request, yiaddr: str, server_ip: str, options: bytes) -> bytes:
    """A BOOTREPLY to ``request`` with already encoded ``options``."""
    chaddr = bytes.fromhex(request.chaddr.replace(":", ""))
    header = struct.pack(
        "!BBBBIHH4s4s4s4s16s64s128s",
        2, 1, 6, 0, request.xid, 0, request.flags,
        socket.inet_aton(request.ciaddr),
        socket.inet_aton(yiaddr),
        socket.inet_aton(server_ip),
        b"\x00" * 4,
        chaddr.ljust(16, b"\x00"),
        b"", b"",
    )  # fmt: skip
    body = header + MAGIC + options
    return body.ljust(300, b"\x00")  # some clients want the classic minimum size


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def frame(src_mac: str, dst_mac: str, src_ip: str, dst_ip: str, payload: bytes) -> bytes:
    """Ethernet II + IPv4 + UDP (67 → 68) around a BOOTP payload."""
    udp = struct.pack("!HHHH", 67, 68, 8 + len(payload), 0) + payload
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0x10, 20 + len(udp), 0, 0, 64, 17, 0,
        socket.inet_aton(src_ip), socket.inet_aton(dst_ip),
    )  # fmt: skip
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    eth = bytes.fromhex(dst_mac.replace(":", "")) + bytes.fromhex(src_mac.replace(":", ""))
    return eth + struct.pack("!H", ETH_IP) + ip + udp


def request_frame(
    mac: str, msg_type: int, xid: int, *, requested: str | None = None,
    server_id: str | None = None, ciaddr: str = "0.0.0.0", src_ip: str = "0.0.0.0",
    dst_ip: str = "255.255.255.255", dst_mac: str = "ff:ff:ff:ff:ff:ff",
) -> bytes:  # fmt: skip
    """A client's frame (for tests and the load generator)."""
    options: list[tuple[int, bytes]] = [(OPT_MSG_TYPE, bytes([msg_type]))]
    if requested:
        options.append((OPT_REQUESTED_IP, socket.inet_aton(requested)))
    if server_id:
        options.append((OPT_SERVER_ID, socket.inet_aton(server_id)))
    chaddr = bytes.fromhex(mac.replace(":", ""))
    header = struct.pack(
        "!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0,
        socket.inet_aton(ciaddr), b"\x00" * 4, b"\x00" * 4, b"\x00" * 4,
        chaddr.ljust(16, b"\x00"), b"", b"",
    )  # fmt: skip
    payload = (header + MAGIC + encode_options(options)).ljust(300, b"\x00")
    udp = struct.pack("!HHHH", 68, 67, 8 + len(payload), 0) + payload
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
        socket.inet_aton(src_ip), socket.inet_aton(dst_ip),
    )  # fmt: skip
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    eth = bytes.fromhex(dst_mac.replace(":", "")) + chaddr
    return eth + struct.pack("!H", ETH_IP) + ip + udp


def parse_reply(frame_bytes: bytes) -> tuple[int, str, dict[int, bytes]]:
    """(message type, yiaddr, options) of a server's frame (tests, load generator)."""
    ihl = (frame_bytes[14] & 0x0F) * 4
    data = frame_bytes[14 + ihl + 8 :]
    yiaddr = socket.inet_ntoa(data[16:20])
    patched = b"\x01" + data[1:]
    req = parse_bootp(patched)
    return req.msg_type, yiaddr, req.options
