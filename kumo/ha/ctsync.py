"""Connection-tracking sync between the gateway hosts of a router.

A router's SNAT namespace runs on the active gateway host; each standby
host keeps an identical namespace that sees no traffic until failover.
Those namespaces set ``nf_conntrack_tcp_loose=0``, so an established TCP
connection survives a failover only if the standby already holds its
conntrack entry, NAT mapping included. This module reads entries on the
active side and writes them on the standby side; the agent carries them
between hosts (over UDP on the underlay) in the datagrams built here.

- ``dump(netns)``: the namespace's table, as ``Entry`` values.
- ``Watcher(netns, on_change)``: a thread subscribed to the namespace's
  conntrack events (NEW, UPDATE, DESTROY). It subscribes first, then dumps,
  so no change between the two is lost; it hands ``on_change(upserts,
  deletes)`` batches, one entry per connection, the latest state winning.
  Every ``resync`` seconds, and at once after the kernel dropped events
  (ENOBUFS) or ``on_change`` failed, it dumps again and sends every entry
  (refreshing the standby's timeouts, which no event does) plus a delete
  for each entry it had sent that is gone.
- ``enable_events(netns)``: ``nf_conntrack_events=1``. The kernel's default
  gives events only for entries created while someone listened, so every
  router namespace (standbys too: they become active) needs it from the
  start; the Watcher sets it on its own namespace as a safety net.
- ``apply(netns, upserts, deletes)``: deletes (absent ones count as done),
  then creates, then updates what already existed. Entries are created
  confirmed, with their status bits and TCP state, and NATed by the
  kernel itself: the message carries the un-NATed reply tuple plus the
  NAT range that maps it to the reply tuple seen on the active side, so
  the kernel sets ``SRC_NAT``/``DST_NAT`` and translates return traffic.
- ``flush(netns)``: empty a table (a standby before a new sync starts).
- ``encode``/``decode``: the wire format (below).

What is synced (``worth_syncing``, the Watcher's default filter): entries
that have seen traffic both ways (``SEEN_REPLY``). For TCP only states
where a connection carries data: ESTABLISHED, FIN_WAIT, CLOSE_WAIT,
LAST_ACK. A connection still in its handshake is not sent (the client
retransmits its SYN, which the standby accepts); when a sent connection
reaches TIME_WAIT or CLOSE, or is destroyed, the standby gets a delete
(its copy would otherwise wait out an ESTABLISHED timeout of days).
UDP and ICMP flows with a reply are sent: without an entry the standby
would answer the first returning packet with an ICMP error.

Why the ctnetlink messages are built here rather than through pyroute2's
``NFCTSocket`` or the ``conntrack`` tool: pyroute2 0.9.7 can create NATed
entries, but its synchronous socket tears its transport down after every
call and waits for each request's answer; ``conntrack -I`` is a process
per entry. Here a batch's requests go out 128 to a ``sendmsg`` and their
acknowledgements are read back together; the messages are a few nested
attributes, and two kernel rules shape them: the status sent must keep
CONFIRMED (the kernel refuses to change it), and NAT is only set at
creation (an update carrying a NAT range is refused).

Wire format, version 1 (all integers big-endian), one datagram::

    "KC" version:u8 flags:u8 seq:u64 upserts:u16 deletes:u16
    id_len:u8 router_id:utf-8
    deletes: l3:u8 proto:u8 zone:u16 orig
    upserts: l3:u8 proto:u8 status:u8 tcp_state:u8 timeout:u32 mark:u32
             zone:u16 orig reply [TCP: wscale_orig wscale_reply
             flags_orig flags_reply, u8 each]
    tuple:   src dst (4 or 16 bytes each) then four bytes: sport:u16
             dport:u16 (ICMP: id:u16 type:u8 code:u8)

An IPv4 TCP upsert takes 42 bytes, so a datagram holds about 30. The
receiver applies datagrams as they come; ``seq`` shows it gaps, and the
sender's next full sync repairs what a lost datagram carried.

Limits: conntrack helpers (FTP, SIP), expectations, sequence adjustment,
labels and per-direction zones are not carried. TCP window positions are
not exposed by ctnetlink: the standby learns them from the first packets
after failover, as it does for a connection picked up mid-stream. If the
standby already holds another entry using the same NAT tuple, the kernel
picks another port for the new one (the active side's mapping is lost for
that connection). A Watcher does not know what an earlier one sent: run
``flush`` on a standby before a new Watcher starts feeding it. Run a
Watcher only on the active side: entries ``apply`` creates raise events
too.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from kumo.dataplane import netns as ns

log = logging.getLogger("kumo.ha")

TCP, UDP, ICMP, ICMPV6 = 6, 17, 1, 58
PROTOCOLS = frozenset({TCP, UDP, ICMP, ICMPV6})

# include/uapi/linux/netfilter/nf_conntrack_common.h
SEEN_REPLY = 1 << 1
ASSURED = 1 << 2
CONFIRMED = 1 << 3
SRC_NAT = 1 << 4
DST_NAT = 1 << 5
SYNCED_STATUS = SEEN_REPLY | ASSURED | SRC_NAT | DST_NAT
"""The status bits an ``Entry`` carries; the kernel derives the others."""

# include/uapi/linux/netfilter/nf_conntrack_tcp.h
TCP_NONE, TCP_SYN_SENT, TCP_SYN_RECV, TCP_ESTABLISHED = 0, 1, 2, 3
TCP_FIN_WAIT, TCP_CLOSE_WAIT, TCP_LAST_ACK, TCP_TIME_WAIT = 4, 5, 6, 7
TCP_CLOSE, TCP_SYN_SENT2 = 8, 9
SYNCED_TCP_STATES = frozenset({TCP_ESTABLISHED, TCP_FIN_WAIT, TCP_CLOSE_WAIT, TCP_LAST_ACK})
TCP_FLAGS_SYNCED = 0x0F
"""Window scale, SACK permitted, close init, be liberal: properties of the
connection, not of window positions the standby does not have."""

MAX_DATAGRAM = 1400
WIRE_VERSION = 1
_MAGIC = b"KC"
_HEADER = struct.Struct(">2sBBQHHB")
_UPSERT = struct.Struct(">BBBBIIH")
_DELETE = struct.Struct(">BBH")
_TCP_INFO = struct.Struct(">BBBB")
_PORTS = struct.Struct(">HH")
_ICMP = struct.Struct(">HBB")
_MAX_ROUTER_ID = 64


@dataclass(frozen=True)
class FlowTuple:
    """One direction of a connection as conntrack keys it. For ICMP and
    ICMPv6, ``sport`` is the identifier and ``dport`` is ``type << 8 | code``
    (the kernel keeps type and code in the destination half)."""

    src: str
    dst: str
    sport: int
    dport: int

    def swapped(self) -> FlowTuple:
        return FlowTuple(self.dst, self.src, self.dport, self.sport)


Key = tuple[int, int, int, FlowTuple]
"""(l3, proto, zone, original tuple): identifies an entry in a table."""


@dataclass(frozen=True)
class Entry:
    """One conntrack entry: what it takes to recreate it, NAT included."""

    l3: int
    """4 or 6."""
    proto: int
    """TCP, UDP, ICMP or ICMPV6."""
    orig: FlowTuple
    reply: FlowTuple
    """As the kernel holds it: after NAT, so it carries the mapping."""
    status: int = 0
    """``SYNCED_STATUS`` bits only."""
    tcp_state: int = TCP_NONE
    tcp_wscale: tuple[int, int] = (0, 0)
    """Window scale of the original and reply directions."""
    tcp_flags: tuple[int, int] = (0, 0)
    """``TCP_FLAGS_SYNCED`` bits of the original and reply directions."""
    timeout: int = 0
    """Seconds left."""
    mark: int = 0
    zone: int = 0

    @property
    def key(self) -> Key:
        return (self.l3, self.proto, self.zone, self.orig)


def worth_syncing(entry: Entry) -> bool:
    """Whether a standby needs this entry to carry the connection on."""
    if not entry.status & SEEN_REPLY:
        return False
    return entry.proto != TCP or entry.tcp_state in SYNCED_TCP_STATES


def key_entry(l3: int, proto: int, orig: FlowTuple, zone: int = 0) -> Entry:
    """An entry that only names a connection (what a delete needs)."""
    return Entry(l3, proto, orig, _unnated_reply(proto, orig, None), zone=zone)


def _key_only(key: Key) -> Entry:
    l3, proto, zone, orig = key
    return key_entry(l3, proto, orig, zone)


# -- wire format ---------------------------------------------------------------


def _pack_addr(l3: int, addr: str) -> bytes:
    try:
        return socket.inet_pton(socket.AF_INET if l3 == 4 else socket.AF_INET6, addr)
    except OSError:
        raise ValueError(f"bad IPv{l3} address {addr!r}") from None


def _pack_tuple(l3: int, proto: int, t: FlowTuple) -> bytes:
    if proto in (ICMP, ICMPV6):
        l4 = _ICMP.pack(t.sport, t.dport >> 8, t.dport & 0xFF)
    else:
        l4 = _PORTS.pack(t.sport, t.dport)
    return _pack_addr(l3, t.src) + _pack_addr(l3, t.dst) + l4


def _check_kind(l3: int, proto: int) -> None:
    if l3 not in (4, 6) or proto not in PROTOCOLS:
        raise ValueError(f"unsupported entry: IPv{l3} protocol {proto}")
    if (proto == ICMP and l3 != 4) or (proto == ICMPV6 and l3 != 6):
        raise ValueError(f"protocol {proto} over IPv{l3}")


def _pack_upsert(e: Entry) -> bytes:
    _check_kind(e.l3, e.proto)
    if e.status & ~SYNCED_STATUS:
        raise ValueError(f"status bits {e.status:#x} are not synced")
    head = _UPSERT.pack(e.l3, e.proto, e.status, e.tcp_state, e.timeout, e.mark, e.zone)
    body = _pack_tuple(e.l3, e.proto, e.orig) + _pack_tuple(e.l3, e.proto, e.reply)
    if e.proto == TCP:
        body += _TCP_INFO.pack(*e.tcp_wscale, *e.tcp_flags)
    return head + body


def _pack_delete(e: Entry) -> bytes:
    _check_kind(e.l3, e.proto)
    return _DELETE.pack(e.l3, e.proto, e.zone) + _pack_tuple(e.l3, e.proto, e.orig)


def encode(
    upserts: Sequence[Entry], deletes: Sequence[Entry], *, router_id: str, seq: int
) -> list[bytes]:
    """Datagrams of at most ``MAX_DATAGRAM`` bytes; datagram ``i`` carries
    sequence number ``seq + i`` (the caller advances by the list's length).
    Deletes come before upserts. Nothing to send still gives one datagram
    (a heartbeat). ValueError for an entry that cannot be encoded."""
    rid = router_id.encode()
    if not rid or len(rid) > _MAX_ROUTER_ID:
        raise ValueError(f"router id must be 1-{_MAX_ROUTER_ID} bytes")
    try:
        records = [(False, _pack_delete(e)) for e in deletes]
        records += [(True, _pack_upsert(e)) for e in upserts]
    except struct.error as exc:
        raise ValueError(f"field out of range: {exc}") from None
    room = MAX_DATAGRAM - _HEADER.size - len(rid)
    groups: list[list[tuple[bool, bytes]]] = [[]]
    used = 0
    for record in records:
        if used + len(record[1]) > room:
            groups.append([])
            used = 0
        groups[-1].append(record)
        used += len(record[1])
    datagrams = []
    for i, group in enumerate(groups):
        ups = sum(1 for is_upsert, _ in group if is_upsert)
        header = _HEADER.pack(
            _MAGIC, WIRE_VERSION, 0, (seq + i) & (2**64 - 1), ups, len(group) - ups, len(rid)
        )
        datagrams.append(header + rid + b"".join(data for _, data in group))
    return datagrams


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, size: int) -> bytes:
        if self.pos + size > len(self.data):
            raise ValueError("truncated datagram")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def unpack(self, fmt: struct.Struct) -> tuple[int, ...]:
        return tuple(fmt.unpack(self.take(fmt.size)))

    def tuple(self, l3: int, proto: int) -> FlowTuple:
        family, size = (socket.AF_INET, 4) if l3 == 4 else (socket.AF_INET6, 16)
        src = socket.inet_ntop(family, self.take(size))
        dst = socket.inet_ntop(family, self.take(size))
        if proto in (ICMP, ICMPV6):
            ident, kind, code = self.unpack(_ICMP)
            return FlowTuple(src, dst, ident, kind << 8 | code)
        sport, dport = self.unpack(_PORTS)
        return FlowTuple(src, dst, sport, dport)


def decode(data: bytes) -> tuple[str, int, list[Entry], list[Entry]]:
    """(router_id, seq, upserts, deletes) of one datagram; ValueError for
    anything that is not a well-formed datagram of this version."""
    r = _Reader(data)
    magic, version, _flags, seq, ups, dels, id_len = _HEADER.unpack(r.take(_HEADER.size))
    if magic != _MAGIC:
        raise ValueError("not a conntrack sync datagram")
    if version != WIRE_VERSION:
        raise ValueError(f"unsupported version {version}")
    router_id = r.take(id_len).decode()
    if not router_id:
        raise ValueError("empty router id")
    deletes = []
    for _ in range(dels):
        l3, proto, zone = r.unpack(_DELETE)
        _check_kind(l3, proto)
        deletes.append(key_entry(l3, proto, r.tuple(l3, proto), zone))
    upserts = []
    for _ in range(ups):
        l3, proto, status, state, timeout, mark, zone = r.unpack(_UPSERT)
        _check_kind(l3, proto)
        if status & ~SYNCED_STATUS:
            raise ValueError(f"unknown status bits {status:#x}")
        if state > TCP_SYN_SENT2 or (state and proto != TCP):
            raise ValueError(f"bad TCP state {state}")
        orig, reply = r.tuple(l3, proto), r.tuple(l3, proto)
        wscale, flags = (0, 0), (0, 0)
        if proto == TCP:
            wo, wr, fo, fr = r.unpack(_TCP_INFO)
            wscale, flags = (wo, wr), (fo, fr)
        upserts.append(
            Entry(l3, proto, orig, reply, status, state, wscale, flags, timeout, mark, zone)
        )
    if r.pos != len(data):
        raise ValueError("trailing bytes")
    return router_id, seq, upserts, deletes


# -- ctnetlink -----------------------------------------------------------------

_NETLINK_NETFILTER = 12
_SOL_NETLINK = 270
_NETLINK_CAP_ACK = 10
_SO_RCVBUFFORCE = 33
_CTNETLINK = 1 << 8  # NFNL_SUBSYS_CTNETLINK in the message type's high byte
_MSG_NEW, _MSG_GET, _MSG_DELETE = 0, 1, 2
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
_ICMP_REPLY = {ICMP: {8: 0, 13: 14, 15: 16, 17: 18}, ICMPV6: {128: 129}}


def _unnated_reply(proto: int, orig: FlowTuple, reply: FlowTuple | None) -> FlowTuple:
    """The reply tuple the connection would have without NAT."""
    if proto not in _ICMP_REPLY:
        return orig.swapped()
    if reply is not None:
        return FlowTuple(orig.dst, orig.src, orig.sport, reply.dport)
    kind = _ICMP_REPLY[proto].get(orig.dport >> 8, orig.dport >> 8)
    return FlowTuple(orig.dst, orig.src, orig.sport, kind << 8 | orig.dport & 0xFF)


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
    ip = _nla(src, _pack_addr(l3, t.src)) + _nla(dst, _pack_addr(l3, t.dst))
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
    packed = _pack_addr(l3, addr)
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
        _tuple_attr(_CTA_TUPLE_REPLY, e.l3, e.proto, _unnated_reply(e.proto, e.orig, e.reply)),
        _state_attrs(e),
    ]
    if e.status & DST_NAT:
        parts.append(_nat_attr(_CTA_NAT_DST, e.l3, e.reply.src, None if icmp else e.reply.sport))
    if e.status & SRC_NAT:
        port = e.reply.sport if icmp else e.reply.dport
        parts.append(_nat_attr(_CTA_NAT_SRC, e.l3, e.reply.dst, port))
    return b"".join(parts)


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


def _parse_entry(payload: bytes) -> tuple[Entry, bool] | None:
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


def _messages(data: bytes) -> Iterator[tuple[int, int, int, bytes]]:
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


Request = tuple[int, int, int, bytes]
"""(ctnetlink message type, netlink flags, l3 family, attributes)."""


class _Conntrack:
    """A ctnetlink request socket opened inside one namespace."""

    def __init__(self, netns: str | None, timeout: float = 5.0) -> None:
        self.sock = _open(netns)
        self.sock.settimeout(timeout)
        self._seq = int(time.monotonic() * 1000) & 0xFFFFFF

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> _Conntrack:
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
                for kind, _flags, seq, payload in _messages(self._recv()):
                    if kind == _NLMSG_ERROR and seq in pending:
                        codes[pending.pop(seq)] = -struct.unpack_from("=i", payload)[0]
        return codes

    def dump(self) -> Iterator[bytes]:
        """Every entry's message (all families and zones)."""
        seq, message = self._message((_MSG_GET, _F_DUMP, socket.AF_UNSPEC, b""))
        self.sock.send(message)
        while True:
            for kind, _flags, got, payload in _messages(self._recv()):
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
            parsed = _parse_entry(payload)
            if parsed is not None:
                yield parsed[0]

    def get(self, e: Entry) -> Entry | None:
        """The kernel's current view of ``e`` (None: gone)."""
        seq, message = self._message((_MSG_GET, 0, _FAMILY[e.l3], _key_attrs(e)))
        self.sock.send(message)
        while True:
            for kind, _flags, got, payload in _messages(self._recv()):
                if got != seq:
                    continue
                if kind == _NLMSG_ERROR:
                    code = -struct.unpack_from("=i", payload)[0]
                    if code in (0, errno.ENOENT):
                        return None
                    raise OSError(code, f"conntrack get: {os.strerror(code)}")
                parsed = _parse_entry(payload)
                return parsed[0] if parsed is not None and parsed[1] else None


# -- the operations ------------------------------------------------------------

_EVENTS_SYSCTL = "/proc/sys/net/netfilter/nf_conntrack_events"


def enable_events(netns: str | None) -> None:
    """Have the kernel report events for every new entry of the namespace.
    Its default (2) only attaches event tracking to entries created while
    someone listens: a connection opened while no agent watched would never
    report its end. OSError if conntrack is not loaded there."""
    with ns.entered(netns), open(_EVENTS_SYSCTL, "w") as f:
        f.write("1")


def flush(netns: str | None) -> None:
    """Delete every entry of the namespace's table."""
    with _Conntrack(netns) as ct:
        [code] = ct.transact([(_MSG_DELETE, _F_ACK, socket.AF_UNSPEC, b"")])
    if code:
        raise OSError(code, f"conntrack flush: {os.strerror(code)}")


def dump(netns: str | None) -> list[Entry]:
    """Every TCP, UDP, ICMP and ICMPv6 entry of the namespace's table."""
    with _Conntrack(netns) as ct:
        return list(ct.entries())


@dataclass
class Applied:
    created: int = 0
    updated: int = 0
    deleted: int = 0
    absent: int = 0
    """Deletes of entries that were not there."""
    failed: list[tuple[Entry, int]] = field(default_factory=list)
    """Entries the kernel refused, with its errno."""

    @property
    def ok(self) -> bool:
        return not self.failed


def _requests(
    entries: Sequence[Entry], build: Callable[[Entry], Request], result: Applied
) -> tuple[list[Entry], list[Request]]:
    kept, requests = [], []
    for e in entries:
        try:
            _check_kind(e.l3, e.proto)
            requests.append(build(e))
        except (ValueError, struct.error):
            result.failed.append((e, errno.EINVAL))
            continue
        kept.append(e)
    return kept, requests


def apply(netns: str | None, upserts: Sequence[Entry], deletes: Sequence[Entry]) -> Applied:
    """Delete ``deletes`` (absent ones count as done), then create each of
    ``upserts`` with its NAT mapping, updating (state, status, timeout,
    mark) those that already exist. A NAT mapping is only set at creation:
    an existing entry keeps its own."""
    result = Applied()
    with _Conntrack(netns) as ct:
        gone, requests = _requests(
            deletes, lambda e: (_MSG_DELETE, _F_ACK, _FAMILY[e.l3], _key_attrs(e)), result
        )
        for e, code in zip(gone, ct.transact(requests), strict=True):
            if code == 0:
                result.deleted += 1
            elif code == errno.ENOENT:
                result.absent += 1
            else:
                result.failed.append((e, code))
        create = _F_ACK | _F_CREATE | _F_EXCL
        wanted, requests = _requests(
            upserts, lambda e: (_MSG_NEW, create, _FAMILY[e.l3], _create_attrs(e)), result
        )
        existing = []
        for e, code in zip(wanted, ct.transact(requests), strict=True):
            if code == 0:
                result.created += 1
            elif code == errno.EEXIST:
                existing.append(e)
            else:
                result.failed.append((e, code))
        update = [
            (_MSG_NEW, _F_ACK, _FAMILY[e.l3], _key_attrs(e) + _state_attrs(e)) for e in existing
        ]
        for e, code in zip(existing, ct.transact(update), strict=True):
            if code == 0:
                result.updated += 1
            else:
                result.failed.append((e, code))
    return result


OnChange = Callable[[list[Entry], list[Entry]], None]


class Watcher:
    """Follows one namespace's conntrack table from a thread and reports
    changes to ``on_change(upserts, deletes)`` (called from that thread).

    Only entries ``want`` accepts are reported; an entry that stops being
    accepted (TCP reaching TIME_WAIT) or is destroyed is reported as a
    delete if it had been reported before. ``resync`` is the period of full
    dumps (None: only at start and after lost events)."""

    def __init__(
        self,
        netns: str | None,
        on_change: OnChange,
        *,
        want: Callable[[Entry], bool] = worth_syncing,
        resync: float | None = 30.0,
        max_batch: int = 1000,
    ) -> None:
        self.netns = netns
        self.on_change = on_change
        self.want = want
        self.resync = resync
        self.max_batch = max_batch
        self.synced = threading.Event()
        """Set once the first full dump has been handed to ``on_change``."""
        self.stats = {"events": 0, "batches": 0, "resyncs": 0, "overruns": 0, "failures": 0}
        self._known: set[Key] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._events: socket.socket | None = None
        self._ct: _Conntrack | None = None

    def start(self) -> None:
        """Enable events for new entries, subscribe (here, before
        returning), then dump and follow events from the thread: nothing that
        changes after ``start`` is missed. Entries created before events were
        enabled report no events: the full syncs keep them right."""
        try:
            enable_events(self.netns)
        except OSError as exc:
            log.warning("ctsync %s: cannot enable conntrack events: %s", self.netns, exc)
        self._events = _open(self.netns, _EVENT_GROUPS)
        self._events.setblocking(False)
        self._ct = _Conntrack(self.netns)
        self._thread = threading.Thread(target=self.run, name="ctsync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        for closable in (self._events, self._ct):
            if closable is not None:
                closable.close()

    def run(self) -> None:
        assert self._events is not None
        next_resync = 0.0
        while not self._stop.is_set():
            if time.monotonic() >= next_resync:
                next_resync = self._full_sync()
            wait = min(0.2, max(0.0, next_resync - time.monotonic()))
            ready, _, _ = select.select([self._events], [], [], wait)
            if not ready:
                continue
            upserts: dict[Key, Entry] = {}
            deletes: dict[Key, Entry] = {}
            overrun = self._drain(upserts, deletes)
            if not self._deliver(list(upserts.values()), list(deletes.values())):
                next_resync = min(next_resync, time.monotonic() + 1.0)
            if overrun:
                next_resync = 0.0

    def _next_resync(self) -> float:
        return time.monotonic() + self.resync if self.resync is not None else float("inf")

    def _full_sync(self) -> float:
        """Dump, report every selected entry and a delete for each reported
        one that is gone; the time of the next full sync."""
        assert self._ct is not None
        self.stats["resyncs"] += 1
        try:
            current = {e.key: e for e in self._ct.entries() if self.want(e)}
        except OSError as exc:
            log.warning("ctsync %s: dump failed: %s", self.netns, exc)
            return time.monotonic() + 1.0
        gone = [_key_only(key) for key in self._known - set(current)]
        self._known = set(current)
        ok = self._deliver(list(current.values()), gone)
        self.synced.set()
        return self._next_resync() if ok else time.monotonic() + 1.0

    def _drain(self, upserts: dict[Key, Entry], deletes: dict[Key, Entry]) -> bool:
        """Read pending events into the batch; True if the kernel dropped some."""
        assert self._events is not None
        count = 0
        while count < self.max_batch:
            try:
                data = self._events.recv(1 << 16)
            except BlockingIOError:
                return False
            except OSError as exc:
                if exc.errno != errno.ENOBUFS:
                    raise
                self.stats["overruns"] += 1
                log.warning("ctsync %s: events lost, dumping again", self.netns)
                return True
            for kind, _flags, _seq, payload in _messages(data):
                count += 1
                self.stats["events"] += 1
                self._event(kind & 0xFF, payload, upserts, deletes)
        return False

    def _event(
        self, kind: int, payload: bytes, upserts: dict[Key, Entry], deletes: dict[Key, Entry]
    ) -> None:
        parsed = _parse_entry(payload)
        if parsed is None:
            return
        entry: Entry | None = parsed[0]
        key = parsed[0].key
        if kind == _MSG_DELETE:
            entry = None
        elif not parsed[1]:
            assert self._ct is not None
            try:
                entry = self._ct.get(parsed[0])
            except OSError as exc:
                log.warning("ctsync %s: get failed: %s", self.netns, exc)
                return
        if entry is not None and self.want(entry):
            upserts[key] = entry
            self._known.add(key)
            return
        upserts.pop(key, None)
        if key in self._known:
            self._known.discard(key)
            deletes[key] = _key_only(key)

    def _deliver(self, upserts: list[Entry], deletes: list[Entry]) -> bool:
        if not upserts and not deletes:
            return True
        self.stats["batches"] += 1
        try:
            self.on_change(upserts, deletes)
        except Exception:
            self.stats["failures"] += 1
            log.exception("ctsync %s: on_change failed; a full sync follows", self.netns)
            self._known.update(e.key for e in deletes)  # so the full sync deletes them again
            return False
        return True
