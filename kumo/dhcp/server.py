"""The answers: a client's request and the port's lease in, a reply out. Pure.

DISCOVER → OFFER of the port's address; REQUEST → ACK when it asks for the
port's address (from SELECTING, INIT-REBOOT, RENEWING or REBINDING), NAK
when it asks for another, nothing when it chose another server; INFORM →
ACK with the options only; RELEASE and DECLINE → nothing (the address is
the port's, whatever the client does).
"""

from __future__ import annotations

import functools
import ipaddress
import struct

from kumo.compiler.plan import DhcpLease
from kumo.dhcp import codec


def _ips(values: list[str] | tuple[str, ...]) -> bytes:
    return b"".join(ipaddress.IPv4Address(v).packed for v in values)


def classless_routes(routes: tuple[tuple[str, str], ...]) -> bytes:
    """RFC 3442 encoding: width, significant octets of the destination, router."""
    out = bytearray()
    for dst, hop in routes:
        net = ipaddress.IPv4Network(dst, strict=False)
        width = net.prefixlen
        out.append(width)
        out += net.network_address.packed[: (width + 7) // 8]
        out += ipaddress.IPv4Address(hop).packed
    return bytes(out)


def _extra_value(code: int, value: str) -> bytes:
    """An ``extra_dhcp_opts`` value (text) in its option's wire form."""
    if code in (codec.OPT_ROUTER, codec.OPT_DNS, 42, 150, codec.OPT_SERVER_ID, codec.OPT_MASK):
        return _ips([v.strip() for v in value.replace(";", ",").split(",") if v.strip()])
    if code == codec.OPT_MTU:
        return struct.pack("!H", int(value))
    if code in (codec.OPT_LEASE, codec.OPT_RENEWAL, codec.OPT_REBINDING):
        return struct.pack("!I", int(value))
    if code in (codec.OPT_CLASSLESS, codec.OPT_MS_CLASSLESS):
        items = [v.strip() for v in value.replace(";", ",").split(",") if v.strip()]
        pairs = tuple((items[i], items[i + 1]) for i in range(0, len(items) - 1, 2))
        return classless_routes(pairs)
    return value.encode()


@functools.lru_cache(maxsize=65536)
def encoded_options(lease: DhcpLease, msg_type: int, with_lease: bool = True) -> bytes:
    """The options of an answer, encoded once per lease (leases are immutable)."""
    return codec.encode_options(options_for(lease, msg_type, with_lease=with_lease))


def options_for(
    lease: DhcpLease, msg_type: int, *, with_lease: bool = True
) -> list[tuple[int, bytes]]:
    mask = ipaddress.IPv4Network(f"0.0.0.0/{lease.prefixlen}").netmask
    opts: dict[int, bytes] = {
        codec.OPT_MSG_TYPE: bytes([msg_type]),
        codec.OPT_SERVER_ID: ipaddress.IPv4Address(lease.server_id).packed,
        codec.OPT_MASK: mask.packed,
    }
    if with_lease:
        opts[codec.OPT_LEASE] = struct.pack("!I", lease.lease_time)
        opts[codec.OPT_RENEWAL] = struct.pack("!I", lease.lease_time // 2)
        opts[codec.OPT_REBINDING] = struct.pack("!I", lease.lease_time * 7 // 8)
    if lease.router:
        opts[codec.OPT_ROUTER] = ipaddress.IPv4Address(lease.router).packed
    if lease.dns:
        opts[codec.OPT_DNS] = _ips(lease.dns)
    if lease.domain:
        opts[codec.OPT_DOMAIN] = lease.domain.encode()
    if lease.hostname:
        opts[codec.OPT_HOSTNAME] = lease.hostname.encode()
    if lease.mtu:
        opts[codec.OPT_MTU] = struct.pack("!H", lease.mtu)
    if lease.routes:
        opts[codec.OPT_CLASSLESS] = opts[codec.OPT_MS_CLASSLESS] = classless_routes(lease.routes)
    for code, value in lease.extra:
        try:
            opts[code] = _extra_value(code, value)
        except ValueError:
            continue  # a value the option cannot hold: the computed one stays
    opts[codec.OPT_MSG_TYPE] = bytes([msg_type])
    return sorted(opts.items())


def answer(
    request: codec.Request, lease: DhcpLease
) -> tuple[int, str, list[tuple[int, bytes]]] | None:
    """(message type, yiaddr, options) to send, or None to stay silent."""
    if request.chaddr != lease.mac:
        return None
    if request.msg_type == codec.DISCOVER:
        return codec.OFFER, lease.ip, []
    if request.msg_type == codec.REQUEST:
        if request.server_id is not None and request.server_id != lease.server_id:
            return None  # the client chose another server's offer
        asked = request.requested_ip or (request.ciaddr if request.ciaddr != "0.0.0.0" else None)
        if asked == lease.ip:
            return codec.ACK, lease.ip, []
        nak = [(codec.OPT_MSG_TYPE, bytes([codec.NAK])),
               (codec.OPT_SERVER_ID, ipaddress.IPv4Address(lease.server_id).packed)]  # fmt: skip
        return codec.NAK, "0.0.0.0", nak
    if request.msg_type == codec.INFORM:
        return codec.ACK, "0.0.0.0", []
    return None


def reply_frame(request: codec.Request, lease: DhcpLease, server_mac: str) -> bytes | None:
    """The whole frame to send back on the port, or None."""
    decided = answer(request, lease)
    if decided is None:
        return None
    msg_type, yiaddr, options = decided
    if msg_type == codec.NAK:
        encoded = codec.encode_options(options)
    else:
        encoded = encoded_options(lease, msg_type, request.msg_type != codec.INFORM)
    payload = codec.bootp_reply(request, yiaddr, lease.server_id, encoded)
    if msg_type == codec.NAK or request.flags & codec.BROADCAST_FLAG:
        dst_mac, dst_ip = "ff:ff:ff:ff:ff:ff", "255.255.255.255"
    elif request.ciaddr != "0.0.0.0":
        dst_mac, dst_ip = lease.mac, request.ciaddr
    else:
        dst_mac, dst_ip = lease.mac, yiaddr if yiaddr != "0.0.0.0" else "255.255.255.255"
    return codec.frame(server_mac, dst_mac, lease.server_id, dst_ip, payload)
