"""ctnetlink, the netfilter netlink interface to conntrack, as the HA sync
uses it (``kumo.ha.ctsync``): the requests that flush, delete, create and
update entries, the parsing of the entries the kernel reports (dumps and
events), and ``Conntrack``, a request socket inside one namespace.

Why the ctnetlink messages are built here rather than through pyroute2's
``NFCTSocket`` or the ``conntrack`` tool: pyroute2 0.9.7 can create NATed
entries, but its synchronous socket tears its transport down after every
call and waits for each request's answer; ``conntrack -I`` is a process
per entry. Here a batch's requests go out 128 to a ``sendmsg`` and their
acknowledgements are read back together; the messages are a few nested
attributes, and two kernel rules shape them: the status sent must keep
CONFIRMED (the kernel refuses to change it), and NAT is only set at
creation (an update carrying a NAT range is refused).
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import time
from collections.abc import Iterator, Sequence

from kumo.dataplane import netns as ns
from kumo.ha.ctentry import (
    ASSURED,
    CONFIRMED,
    DST_NAT,
    ICMP,
    ICMPV6,
    SEEN_REPLY,
    SRC_NAT,
    SYNCED_STATUS,
    TCP,
    TCP_FLAGS_SYNCED,
    UDP,
    Entry,
    FlowTuple,
    pack_addr,
    unnated_reply,
)

_NETLINK_NETFILTER = 12
_SOL_NETLINK = 270
_NETLINK_CAP_ACK = 10
_SO_RCVBUFFORCE = 33
_CTNETLINK = 1 << 8  # NFNL_SUBSYS_CTNETLINK in the message type's high byte
MSG_NEW, MSG_GET, MSG_DELETE = 0, 1, 2
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_F_REQUEST, _F_ACK, _F_EXCL, _F_CREATE, _F_DUMP = 0x1, 0x4, 0x200, 0x400, 0x300
_NLA_NESTED = 0x8000
_NLA_TYPE = 0x3FFF
_EVENT_GROUPS = 0b111  # NFNLGRP_CONNTRACK_NEW, _UPDATE, _DESTROY
_NLMSG = struct.Struct("=IHHII")
_NFGEN = struct.Struct("=BBH")
_NLA = struct.Struct("=HH")
_BATCH = 128
"""Requests per ``sendmsg``; their acknowledgements are read before the next."""

# include/uapi/linux/netfilter/nfnetlink_conntrack.h
_CTA_TUPLE_ORIG, _CTA_TUPLE_REPLY, _CTA_STATUS, _CTA_PROTOINFO = 1, 2, 3, 4
_CTA_NAT_SRC, _CTA_TIMEOUT, _CTA_MARK, _CTA_NAT_DST, _CTA_ZONE = 6, 7, 8, 13, 18
_TUPLE_IP, _TUPLE_PROTO = 1, 2
_PROTO_NUM, _PROTO_SPORT, _PROTO_DPORT = 1, 2, 3
_PROTO_ICMP = {ICMP: (4, 5, 6), ICMPV6: (7, 8, 9)}  # id, type, code
_PROTOINFO_TCP = 1
_TCP_STATE, _TCP_WSCALE_ORIG, _TCP_WSCALE_REPLY, _TCP_FLAGS_ORIG, _TCP_FLAGS_REPLY = 1, 2, 3, 4, 5
_NAT_PROTO, _PROTONAT_MIN, _PROTONAT_MAX = 3, 1, 2
_NAT_IP = {4: (1, 2), 6: (4, 5)}  # min, max
_IP_ATTRS = {4: (1, 2), 6: (3, 4)}  # src, dst
_FAMILY = {4: socket.AF_INET, 6: socket.AF_INET6}
_L3 = {socket.AF_INET: 4, socket.AF_INET6: 6}


def _nla(kind: int, payload: bytes) -> bytes:
    size = _NLA.size + len(payload)
    return _NLA.pack(size, kind) + payload + b"\0" * (-size % 4)


def _nest(kind: int, *parts: bytes) -> bytes:
    return _nla(kind | _NLA_NESTED, b"".join(parts))


def _be16(value: int) -> bytes:
    return struct.pack(">H", value)


def _be32(value: int) -> bytes:
    return struct.pack(">I", value)


def _tuple_attr(kind: int, l3: int, proto: int, t: FlowTuple) -> bytes:
    src, dst = _IP_ATTRS[l3]
    ip = _nla(src, pack_addr(l3, t.src)) + _nla(dst, pack_addr(l3, t.dst))
    l4 = _nla(_PROTO_NUM, bytes([proto]))
    if proto in _PROTO_ICMP:
        ident, kind_attr, code = _PROTO_ICMP[proto]
        l4 += _nla(ident, _be16(t.sport))
        l4 += _nla(kind_attr, bytes([t.dport >> 8])) + _nla(code, bytes([t.dport & 0xFF]))
    else:
        l4 += _nla(_PROTO_SPORT, _be16(t.sport)) + _nla(_PROTO_DPORT, _be16(t.dport))
    return _nest(kind, _nest(_TUPLE_IP, ip), _nest(_TUPLE_PROTO, l4))


def _nat_attr(kind: int, l3: int, addr: str, port: int | None) -> bytes:
    low, high = _NAT_IP[l3]
    packed = pack_addr(l3, addr)
    parts = [_nla(low, packed), _nla(high, packed)]
    if port is not None:
        parts.append(
            _nest(_NAT_PROTO, _nla(_PROTONAT_MIN, _be16(port)), _nla(_PROTONAT_MAX, _be16(port)))
        )
    return _nest(kind, *parts)


def _protoinfo_attr(e: Entry) -> bytes:
    flags = [bytes([f & TCP_FLAGS_SYNCED, TCP_FLAGS_SYNCED]) for f in e.tcp_flags]  # value, mask
    tcp = _nest(
        _PROTOINFO_TCP,
        _nla(_TCP_STATE, bytes([e.tcp_state])),
        _nla(_TCP_WSCALE_ORIG, bytes([e.tcp_wscale[0]])),
        _nla(_TCP_WSCALE_REPLY, bytes([e.tcp_wscale[1]])),
        _nla(_TCP_FLAGS_ORIG, flags[0]),
        _nla(_TCP_FLAGS_REPLY, flags[1]),
    )
    return _nest(_CTA_PROTOINFO, tcp)


def _state_attrs(e: Entry) -> bytes:
    """Status, timeout, mark and TCP state: what create and update share."""
    status = e.status & (SEEN_REPLY | ASSURED) | CONFIRMED  # CONFIRMED may not change
    state = _nla(_CTA_STATUS, _be32(status)) + _nla(_CTA_TIMEOUT, _be32(max(1, e.timeout)))
    state += _nla(_CTA_MARK, _be32(e.mark))
    return state + _protoinfo_attr(e) if e.proto == TCP else state


def _key_attrs(e: Entry) -> bytes:
    zone = _nla(_CTA_ZONE, _be16(e.zone)) if e.zone else b""
    return _tuple_attr(_CTA_TUPLE_ORIG, e.l3, e.proto, e.orig) + zone


def _create_attrs(e: Entry) -> bytes:
    """The un-NATed reply tuple plus NAT ranges that map it to ``e.reply``:
    the kernel then sets up the NAT binding and the SRC_NAT/DST_NAT bits
    (given the NATed reply tuple directly, it would see nothing to map)."""
    icmp = e.proto in _PROTO_ICMP
    parts = [
        _key_attrs(e),
        _tuple_attr(_CTA_TUPLE_REPLY, e.l3, e.proto, unnated_reply(e.proto, e.orig, e.reply)),
        _state_attrs(e),
    ]
    if e.status & DST_NAT:
        parts.append(_nat_attr(_CTA_NAT_DST, e.l3, e.reply.src, None if icmp else e.reply.sport))
    if e.status & SRC_NAT:
        port = e.reply.sport if icmp else e.reply.dport
        parts.append(_nat_attr(_CTA_NAT_SRC, e.l3, e.reply.dst, port))
    return b"".join(parts)


Request = tuple[int, int, int, bytes]
"""(ctnetlink message type, netlink flags, l3 family, attributes)."""


def flush_request() -> Request:
    """Delete every entry of the table."""
    return (MSG_DELETE, _F_ACK, socket.AF_UNSPEC, b"")


def delete_request(e: Entry) -> Request:
    return (MSG_DELETE, _F_ACK, _FAMILY[e.l3], _key_attrs(e))


def create_request(e: Entry) -> Request:
    """Create ``e`` NATed; EEXIST if the table already holds it."""
    return (MSG_NEW, _F_ACK | _F_CREATE | _F_EXCL, _FAMILY[e.l3], _create_attrs(e))


def update_request(e: Entry) -> Request:
    """Set the state of an existing entry (its NAT mapping stays)."""
    return (MSG_NEW, _F_ACK, _FAMILY[e.l3], _key_attrs(e) + _state_attrs(e))


def _attrs(data: bytes) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    pos = 0
    while pos + _NLA.size <= len(data):
        size, kind = _NLA.unpack_from(data, pos)
        if size < _NLA.size or pos + size > len(data):
            raise ValueError("bad netlink attribute")
        found[kind & _NLA_TYPE] = data[pos + _NLA.size : pos + size]
        pos += (size + 3) & ~3
    return found


def _parse_tuple(l3: int, data: bytes) -> tuple[int, FlowTuple]:
    attrs = _attrs(data)
    ip, l4 = _attrs(attrs[_TUPLE_IP]), _attrs(attrs[_TUPLE_PROTO])
    family = _FAMILY[l3]
    src, dst = (socket.inet_ntop(family, ip[a]) for a in _IP_ATTRS[l3])
    proto = l4[_PROTO_NUM][0]
    if proto in _PROTO_ICMP:
        ident, kind, code = _PROTO_ICMP[proto]
        return proto, FlowTuple(src, dst, _int(l4[ident]), l4[kind][0] << 8 | l4[code][0])
    if proto in (TCP, UDP):
        return proto, FlowTuple(src, dst, _int(l4[_PROTO_SPORT]), _int(l4[_PROTO_DPORT]))
    raise KeyError(proto)


def _int(data: bytes) -> int:
    return int.from_bytes(data, "big")


def parse_entry(payload: bytes) -> tuple[Entry, bool] | None:
    """The entry in a ctnetlink message (after the netlink header) and
    whether it is complete (an event may leave the TCP state out); None
    for protocols that are not synced or messages missing a tuple."""
    try:
        family = _NFGEN.unpack_from(payload)[0]
        l3 = _L3[family]
        attrs = _attrs(payload[_NFGEN.size :])
        proto, orig = _parse_tuple(l3, attrs[_CTA_TUPLE_ORIG])
        _, reply = _parse_tuple(l3, attrs[_CTA_TUPLE_REPLY])
    except (KeyError, IndexError, ValueError, struct.error):
        return None
    status = _int(attrs.get(_CTA_STATUS, b"")) & SYNCED_STATUS
    zone = _int(attrs.get(_CTA_ZONE, b""))
    timeout, mark = _int(attrs.get(_CTA_TIMEOUT, b"")), _int(attrs.get(_CTA_MARK, b""))
    entry = Entry(l3, proto, orig, reply, status, timeout=timeout, mark=mark, zone=zone)
    if proto != TCP:
        return entry, True
    try:
        tcp = _attrs(_attrs(attrs[_CTA_PROTOINFO])[_PROTOINFO_TCP])
        state = tcp[_TCP_STATE][0]
    except (KeyError, IndexError, ValueError):
        return entry, False
    wscale = (_int(tcp.get(_TCP_WSCALE_ORIG, b"")), _int(tcp.get(_TCP_WSCALE_REPLY, b"")))
    flags = tuple(
        (tcp.get(a) or b"\0")[0] & TCP_FLAGS_SYNCED for a in (_TCP_FLAGS_ORIG, _TCP_FLAGS_REPLY)
    )
    full = Entry(
        l3, proto, orig, reply, status, state, wscale, (flags[0], flags[1]), timeout, mark, zone
    )
    return full, True


def messages(data: bytes) -> Iterator[tuple[int, int, int, bytes]]:
    """(type, flags, seq, payload) of each netlink message in ``data``."""
    pos = 0
    while pos + _NLMSG.size <= len(data):
        size, kind, flags, seq, _pid = _NLMSG.unpack_from(data, pos)
        if size < _NLMSG.size or pos + size > len(data):
            return
        yield kind, flags, seq, data[pos + _NLMSG.size : pos + size]
        pos += (size + 3) & ~3


def _open(netns: str | None, groups: int = 0) -> socket.socket:
    sock = ns.socket_in(netns, socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_NETFILTER)
    try:
        sock.bind((0, groups))
        sock.setsockopt(_SOL_NETLINK, _NETLINK_CAP_ACK, 1)
        try:
            sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, 8 << 20)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    except OSError:
        sock.close()
        raise
    return sock


def subscribe(netns: str | None) -> socket.socket:
    """A socket that receives the namespace's conntrack events (NEW,
    UPDATE, DESTROY)."""
    return _open(netns, _EVENT_GROUPS)


class Conntrack:
    """A ctnetlink request socket opened inside one namespace."""

    def __init__(self, netns: str | None, timeout: float = 5.0) -> None:
        self.sock = _open(netns)
        self.sock.settimeout(timeout)
        self._seq = int(time.monotonic() * 1000) & 0xFFFFFF

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Conntrack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _message(self, request: Request) -> tuple[int, bytes]:
        kind, flags, family, attrs = request
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        size = _NLMSG.size + _NFGEN.size + len(attrs)
        head = _NLMSG.pack(size, _CTNETLINK | kind, _F_REQUEST | flags, self._seq, 0)
        return self._seq, head + _NFGEN.pack(family, 0, 0) + attrs

    def _recv(self) -> bytes:
        try:
            return self.sock.recv(1 << 17)
        except TimeoutError:
            raise OSError(errno.ETIMEDOUT, "no answer from ctnetlink") from None

    def transact(self, requests: Sequence[Request]) -> list[int]:
        """The errno of each request (0: done), sent ``_BATCH`` at a time."""
        codes = [0] * len(requests)
        for start in range(0, len(requests), _BATCH):
            pending: dict[int, int] = {}
            chunk = bytearray()
            for i, request in enumerate(requests[start : start + _BATCH], start):
                seq, message = self._message(request)
                pending[seq] = i
                chunk += message
            self.sock.send(chunk)
            while pending:
                for kind, _flags, seq, payload in messages(self._recv()):
                    if kind == _NLMSG_ERROR and seq in pending:
                        codes[pending.pop(seq)] = -struct.unpack_from("=i", payload)[0]
        return codes

    def dump(self) -> Iterator[bytes]:
        """Every entry's message (all families and zones)."""
        seq, message = self._message((MSG_GET, _F_DUMP, socket.AF_UNSPEC, b""))
        self.sock.send(message)
        while True:
            for kind, _flags, got, payload in messages(self._recv()):
                if got != seq:
                    continue
                if kind == _NLMSG_DONE:
                    return
                if kind == _NLMSG_ERROR:
                    code = -struct.unpack_from("=i", payload)[0]
                    if code:
                        raise OSError(code, f"conntrack dump: {os.strerror(code)}")
                    return
                yield payload

    def entries(self) -> Iterator[Entry]:
        for payload in self.dump():
            parsed = parse_entry(payload)
            if parsed is not None:
                yield parsed[0]

    def get(self, e: Entry) -> Entry | None:
        """The kernel's current view of ``e`` (None: gone)."""
        seq, message = self._message((MSG_GET, 0, _FAMILY[e.l3], _key_attrs(e)))
        self.sock.send(message)
        while True:
            for kind, _flags, got, payload in messages(self._recv()):
                if got != seq:
                    continue
                if kind == _NLMSG_ERROR:
                    code = -struct.unpack_from("=i", payload)[0]
                    if code in (0, errno.ENOENT):
                        return None
                    raise OSError(code, f"conntrack get: {os.strerror(code)}")
                parsed = parse_entry(payload)
                return parsed[0] if parsed is not None and parsed[1] else None
