"""Conntrack entries as the HA sync carries them (``kumo.ha.ctsync``).

An ``Entry`` holds what it takes to recreate a connection's conntrack
entry on a standby, NAT mapping included: both tuples as the kernel holds
them, the status bits the kernel will not derive, the TCP state, window
scales and flags, the timeout left, the mark and the zone. ``Key`` names
an entry in a table.

What is synced (``worth_syncing``, the Watcher's default filter): entries
that have seen traffic both ways (``SEEN_REPLY``). For TCP only states
where a connection carries data: ESTABLISHED, FIN_WAIT, CLOSE_WAIT,
LAST_ACK. A connection still in its handshake is not sent (the client
retransmits its SYN, which the standby accepts); when a sent connection
reaches TIME_WAIT or CLOSE, or is destroyed, the standby gets a delete
(its copy would otherwise wait out an ESTABLISHED timeout of days).
UDP and ICMP flows with a reply are sent: without an entry the standby
would answer the first returning packet with an ICMP error.

Not carried: conntrack helpers (FTP, SIP), expectations, sequence
adjustment, labels and per-direction zones. TCP window positions are not
exposed by ctnetlink: the standby learns them from the first packets
after failover, as it does for a connection picked up mid-stream.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

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
    return Entry(l3, proto, orig, unnated_reply(proto, orig, None), zone=zone)


_ICMP_REPLY = {ICMP: {8: 0, 13: 14, 15: 16, 17: 18}, ICMPV6: {128: 129}}


def unnated_reply(proto: int, orig: FlowTuple, reply: FlowTuple | None) -> FlowTuple:
    """The reply tuple the connection would have without NAT."""
    if proto not in _ICMP_REPLY:
        return orig.swapped()
    if reply is not None:
        return FlowTuple(orig.dst, orig.src, orig.sport, reply.dport)
    kind = _ICMP_REPLY[proto].get(orig.dport >> 8, orig.dport >> 8)
    return FlowTuple(orig.dst, orig.src, orig.sport, kind << 8 | orig.dport & 0xFF)


def check_kind(l3: int, proto: int) -> None:
    """ValueError unless ``l3`` and ``proto`` are an address family and a
    protocol that are synced, and fit together."""
    if l3 not in (4, 6) or proto not in PROTOCOLS:
        raise ValueError(f"unsupported entry: IPv{l3} protocol {proto}")
    if (proto == ICMP and l3 != 4) or (proto == ICMPV6 and l3 != 6):
        raise ValueError(f"protocol {proto} over IPv{l3}")


def pack_addr(l3: int, addr: str) -> bytes:
    """``addr`` in network byte order; ValueError if it is not IPv``l3``."""
    try:
        return socket.inet_pton(socket.AF_INET if l3 == 4 else socket.AF_INET6, addr)
    except OSError:
        raise ValueError(f"bad IPv{l3} address {addr!r}") from None
