"""The datagrams that carry conntrack entries between a router's gateway
hosts (``kumo.ha.ctsync``): ``encode`` splits upserts and deletes into
datagrams, ``decode`` reads one back.

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
sender's next full sync repairs what a lost datagram carried. On the
underlay each datagram travels sealed (``kumo.ha.seal``): the sender
encodes with ``max_size`` so that datagram and envelope together stay
within ``MAX_DATAGRAM``.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Sequence

from kumo.ha.ctentry import (
    ICMP,
    ICMPV6,
    SYNCED_STATUS,
    TCP,
    TCP_SYN_SENT2,
    Entry,
    FlowTuple,
    check_kind,
    key_entry,
    pack_addr,
)

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
_LARGEST_RECORD = _UPSERT.size + 2 * (2 * 16 + _PORTS.size) + _TCP_INFO.size
"""An IPv6 TCP upsert."""


def _pack_tuple(l3: int, proto: int, t: FlowTuple) -> bytes:
    if proto in (ICMP, ICMPV6):
        l4 = _ICMP.pack(t.sport, t.dport >> 8, t.dport & 0xFF)
    else:
        l4 = _PORTS.pack(t.sport, t.dport)
    return pack_addr(l3, t.src) + pack_addr(l3, t.dst) + l4


def _pack_upsert(e: Entry) -> bytes:
    check_kind(e.l3, e.proto)
    if e.status & ~SYNCED_STATUS:
        raise ValueError(f"status bits {e.status:#x} are not synced")
    head = _UPSERT.pack(e.l3, e.proto, e.status, e.tcp_state, e.timeout, e.mark, e.zone)
    body = _pack_tuple(e.l3, e.proto, e.orig) + _pack_tuple(e.l3, e.proto, e.reply)
    if e.proto == TCP:
        body += _TCP_INFO.pack(*e.tcp_wscale, *e.tcp_flags)
    return head + body


def _pack_delete(e: Entry) -> bytes:
    check_kind(e.l3, e.proto)
    return _DELETE.pack(e.l3, e.proto, e.zone) + _pack_tuple(e.l3, e.proto, e.orig)


def encode(
    upserts: Sequence[Entry],
    deletes: Sequence[Entry],
    *,
    router_id: str,
    seq: int,
    max_size: int = MAX_DATAGRAM,
) -> list[bytes]:
    """Datagrams of at most ``max_size`` bytes (less than ``MAX_DATAGRAM``
    leaves room for an envelope); datagram ``i`` carries sequence number
    ``seq + i`` (the caller advances by the list's length). Deletes come
    before upserts. Nothing to send still gives one datagram (a heartbeat).
    ValueError for an entry that cannot be encoded."""
    rid = router_id.encode()
    if not rid or len(rid) > _MAX_ROUTER_ID:
        raise ValueError(f"router id must be 1-{_MAX_ROUTER_ID} bytes")
    if max_size < _HEADER.size + _MAX_ROUTER_ID + _LARGEST_RECORD:
        raise ValueError(f"datagrams of {max_size} bytes cannot hold every record")
    try:
        records = [(False, _pack_delete(e)) for e in deletes]
        records += [(True, _pack_upsert(e)) for e in upserts]
    except struct.error as exc:
        raise ValueError(f"field out of range: {exc}") from None
    room = max_size - _HEADER.size - len(rid)
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
        check_kind(l3, proto)
        deletes.append(key_entry(l3, proto, r.tuple(l3, proto), zone))
    upserts = []
    for _ in range(ups):
        l3, proto, status, state, timeout, mark, zone = r.unpack(_UPSERT)
        check_kind(l3, proto)
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
