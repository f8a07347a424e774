"""Router advertisements (ICMPv6 type 134) as frames. Pure.

Options: source link-layer address, MTU, prefix information, and the DNS
servers (RDNSS, type 25) and search list (DNSSL, type 31) of RFC 8106,
valid for ``DNS_LIFETIME`` (well over three advertisement intervals, as
the RFC asks)."""

from __future__ import annotations

import ipaddress
import socket
import struct

from kumo.compiler.firewall import link_local
from kumo.compiler.plan import RouterAdvert
from kumo.dhcp.codec import checksum

ALL_NODES_MAC = "33:33:00:00:00:01"
ALL_NODES = "ff02::1"
ETH_IPV6 = 0x86DD
RS, RA = 133, 134
VALID_LIFETIME = 86400
PREFERRED_LIFETIME = 14400
RDNSS, DNSSL = 25, 31
DNS_LIFETIME = 1800


def source_ip(advert: RouterAdvert) -> str:
    return link_local(advert.src_mac).split("/")[0]


def advert_frame(
    advert: RouterAdvert, dst_mac: str = ALL_NODES_MAC, dst_ip: str = ALL_NODES
) -> bytes:
    flags = (0x80 if advert.managed else 0) | (0x40 if advert.other else 0)
    body = struct.pack("!BBHBBHII", RA, 0, 0, 64, flags, advert.router_lifetime, 0, 0)
    mac = bytes.fromhex(advert.src_mac.replace(":", ""))
    body += struct.pack("!BB", 1, 1) + mac  # source link-layer address
    if advert.mtu:
        body += struct.pack("!BBHI", 5, 1, 0, advert.mtu)
    for prefix, autonomous in advert.prefixes:
        net = ipaddress.IPv6Network(prefix)
        pflags = 0x80 | (0x40 if autonomous else 0)  # on-link, autonomous
        body += struct.pack("!BBBBIII", 3, 4, net.prefixlen, pflags, VALID_LIFETIME,
                            PREFERRED_LIFETIME, 0) + net.network_address.packed  # fmt: skip
    body += dns_options(advert)
    src = socket.inet_pton(socket.AF_INET6, source_ip(advert))
    dst = socket.inet_pton(socket.AF_INET6, dst_ip)
    pseudo = src + dst + struct.pack("!I3xB", len(body), 58)
    body = body[:2] + struct.pack("!H", checksum(pseudo + body)) + body[4:]
    ip6 = struct.pack("!IHBB", 0x60000000, len(body), 58, 255) + src + dst
    eth = bytes.fromhex(dst_mac.replace(":", "")) + mac + struct.pack("!H", ETH_IPV6)
    return eth + ip6 + body


def dns_options(advert: RouterAdvert) -> bytes:
    """The RDNSS and DNSSL options (none for an empty list)."""
    out = b""
    if advert.rdnss:
        addrs = b"".join(socket.inet_pton(socket.AF_INET6, a) for a in advert.rdnss)
        out += struct.pack("!BBHI", RDNSS, 1 + 2 * len(advert.rdnss), 0, DNS_LIFETIME) + addrs
    names = b"".join(_name(d) for d in advert.dnssl if d.strip("."))
    if names:
        names += b"\x00" * (-len(names) % 8)  # padded to a multiple of 8 octets
        out += struct.pack("!BBHI", DNSSL, 1 + len(names) // 8, 0, DNS_LIFETIME) + names
    return out


def _name(domain: str) -> bytes:
    """A domain name in DNS wire format (RFC 1035 labels, no compression)."""
    labels = [p.encode() for p in domain.strip(".").split(".") if p]
    return b"".join(bytes([len(label)]) + label for label in labels if len(label) < 64) + b"\x00"


def is_solicitation(frame: bytes) -> bool:
    return len(frame) >= 58 and frame[12:14] == b"\x86\xdd" and frame[20] == 58 and frame[54] == RS
