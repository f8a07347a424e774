"""The DNS options of router advertisements (RFC 8106 RDNSS and DNSSL)
into a namespace instance's resolv.conf: what rdnssd or systemd-networkd
do on a real IPv6 host whose subnet hands out addresses by SLAAC alone
(with DHCPv6, ``dhclient6.script`` writes the same). Run inside the
instance: ``python -I rdnss.py IFNAME PIDFILE``; standard library only,
so it starts small. It solicits an advertisement once, then reads every
advertisement on ``IFNAME`` and rewrites the IPv6 name servers (a
link-local one with its zone, ``%IFNAME``) and, when none is there, the
search line of ``/etc/netns/$KUMO_NETNS/resolv.conf`` when they change.
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import sys
import time

RS, RA = 133, 134
RDNSS, DNSSL = 25, 31


def dns_options(packet: bytes) -> tuple[list[str], list[str]] | None:
    """(servers, search domains) of an advertisement's live DNS options
    (None: not an advertisement)."""
    if len(packet) < 16 or packet[0] != RA:
        return None
    servers: list[str] = []
    search: list[str] = []
    i = 16
    while i + 8 <= len(packet):
        kind, size = packet[i], packet[i + 1] * 8
        if size == 0 or i + size > len(packet):
            break
        lifetime = struct.unpack_from("!I", packet, i + 4)[0]
        body = packet[i + 8 : i + size]
        if kind == RDNSS and lifetime:
            servers += [
                socket.inet_ntop(socket.AF_INET6, body[j : j + 16])
                for j in range(0, len(body) - 15, 16)
            ]
        elif kind == DNSSL and lifetime:
            search += _names(body)
        i += size
    return servers, search


def _names(data: bytes) -> list[str]:
    """Domain names in wire format, one after another, then padding."""
    out: list[str] = []
    labels: list[str] = []
    i = 0
    while i < len(data):
        size = data[i]
        if size == 0:
            if labels:
                out.append(".".join(labels))
            labels = []
            i += 1
            continue
        labels.append(data[i + 1 : i + 1 + size].decode("ascii", "replace"))
        i += 1 + size
    return out


def resolv_conf(old: str, servers: list[str], search: list[str], ifname: str) -> str:
    """``old`` with its IPv6 name servers replaced by ``servers`` (and a
    search line added when it has none)."""
    lines = [
        line for line in old.splitlines() if not (line.startswith("nameserver") and ":" in line)
    ]
    for server in servers:
        zone = f"%{ifname}" if server.lower().startswith("fe80:") else ""
        lines.append(f"nameserver {server}{zone}")
    if search and not any(line.startswith("search") for line in lines):
        lines.append("search " + " ".join(search))
    return "".join(line + "\n" for line in lines)


def _write(path: str, servers: list[str], search: list[str], ifname: str) -> None:
    try:
        with open(path) as f:
            old = f.read()
    except OSError:
        old = ""
    new = resolv_conf(old, servers, search, ifname)
    if new == old:
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:  # in place: a bind mount of it may be in use
        f.write(new)


def _solicit(sock: socket.socket) -> None:
    """One router solicitation, once the link-local address is usable."""
    for _ in range(100):
        try:
            sock.sendto(struct.pack("!BBHI", RS, 0, 0, 0), ("ff02::2", 0))
            return
        except OSError as exc:
            if exc.errno != errno.EADDRNOTAVAIL:
                raise
            time.sleep(0.1)  # the link-local address is still tentative


def main(argv: list[str]) -> int:
    ifname, pidfile = argv[1], argv[2]
    netns = os.environ.get("KUMO_NETNS", "")
    if not netns:
        print("rdnss: KUMO_NETNS is not set", file=sys.stderr)
        return 2
    with open(pidfile, "w") as f:
        f.write(f"{os.getpid()}\n")
    path = f"/etc/netns/{netns}/resolv.conf"
    sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, 255)
    _solicit(sock)
    while True:
        found = dns_options(sock.recv(65536))
        if found is not None and found[0]:
            _write(path, found[0], found[1], ifname)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
