"""Conntrack sync without a kernel: the wire format, the sync filter, the
ctnetlink messages built and parsed, and the Watcher's event handling."""

from __future__ import annotations

import random
import socket
import struct

import pytest

from kumo.ha import ctentry, ctnetlink, ctsync
from kumo.ha.ctsync import Entry, FlowTuple

SEEN = ctsync.SEEN_REPLY | ctsync.ASSURED
SNAT_TCP = Entry(4, ctsync.TCP, FlowTuple("10.0.0.2", "203.0.113.20", 40001, 443),
                 FlowTuple("203.0.113.20", "203.0.113.10", 443, 61001), SEEN | ctsync.SRC_NAT,
                 ctsync.TCP_ESTABLISHED, (7, 9), (3, 1), 431999, mark=5)  # fmt: skip
ENTRIES = [
    SNAT_TCP,
    Entry(4, ctsync.UDP, FlowTuple("198.51.100.7", "203.0.113.50", 5353, 53),
          FlowTuple("10.0.0.5", "203.0.113.10", 53, 61000),
          SEEN | ctsync.DST_NAT | ctsync.SRC_NAT, timeout=120, zone=7),
    Entry(4, ctsync.ICMP, FlowTuple("10.0.0.2", "203.0.113.20", 77, 8 << 8),
          FlowTuple("203.0.113.20", "203.0.113.10", 77, 0), ctsync.SEEN_REPLY, timeout=30),
    Entry(6, ctsync.TCP, FlowTuple("2001:db8::2", "2001:db8:1::20", 41000, 443),
          FlowTuple("2001:db8:1::20", "2001:db8:1::10", 443, 41000), SEEN | ctsync.SRC_NAT,
          ctsync.TCP_FIN_WAIT, (7, 7), (1, 3), 120, mark=2**32 - 1, zone=65535),
    Entry(6, ctsync.ICMPV6, FlowTuple("2001:db8::2", "2001:db8:1::20", 9, 128 << 8),
          FlowTuple("2001:db8:1::20", "2001:db8::2", 9, 129 << 8), ctsync.SEEN_REPLY),
]  # fmt: skip


def many(count: int) -> list[Entry]:
    return [
        Entry(4, ctsync.TCP, FlowTuple(f"10.0.{i // 250}.{i % 250}", "203.0.113.20", i, 443),
              FlowTuple("203.0.113.20", "203.0.113.10", 443, 1024 + i), SEEN | ctsync.SRC_NAT,
              ctsync.TCP_ESTABLISHED, timeout=i)
        for i in range(count)
    ]  # fmt: skip


# -- wire format ---------------------------------------------------------------


def test_round_trip_keeps_upserts_and_the_keys_of_deletes() -> None:
    [datagram] = ctsync.encode(ENTRIES, ENTRIES[::-1], router_id="router-1", seq=41)
    router_id, seq, upserts, deletes = ctsync.decode(datagram)
    assert (router_id, seq) == ("router-1", 41)
    assert upserts == ENTRIES
    assert [e.key for e in deletes] == [e.key for e in ENTRIES[::-1]]
    assert deletes[0] == ctsync.key_entry(6, ctsync.ICMPV6, ENTRIES[-1].orig)


def test_an_ipv4_tcp_upsert_is_small() -> None:
    [one] = ctsync.encode([SNAT_TCP], [], router_id="r", seq=0)
    [empty] = ctsync.encode([], [], router_id="r", seq=0)
    assert len(one) - len(empty) == 42


def test_large_batches_split_below_the_limit_with_consecutive_seqs() -> None:
    upserts, deletes = many(1000), many(300)[::-1]
    datagrams = ctsync.encode(upserts, deletes, router_id="r" * 64, seq=2**64 - 2)
    assert all(len(d) <= ctsync.MAX_DATAGRAM for d in datagrams)
    assert len(datagrams) == 36  # ~30 upserts or ~85 deletes per datagram
    decoded = [ctsync.decode(d) for d in datagrams]
    assert [seq for _, seq, _, _ in decoded] == [2**64 - 2, 2**64 - 1] + list(range(34))
    assert [e for _, _, ups, _ in decoded for e in ups] == upserts
    assert [e.key for _, _, _, dels in decoded for e in dels] == [e.key for e in deletes]
    # deletes all travel before the upserts
    kinds = [bool(ups) for _, _, ups, _ in decoded]
    assert kinds == sorted(kinds)


def test_nothing_to_send_is_one_heartbeat() -> None:
    [datagram] = ctsync.encode([], [], router_id="r1", seq=7)
    assert ctsync.decode(datagram) == ("r1", 7, [], [])


@pytest.mark.parametrize(
    "entry",
    [
        Entry(
            4, ctsync.TCP, FlowTuple("10.0.0.300", "1.1.1.1", 1, 2), FlowTuple("1.1.1.1", "x", 2, 1)
        ),
        Entry(4, ctsync.TCP, FlowTuple("2001:db8::1", "1.1.1.1", 1, 2), SNAT_TCP.reply),
        Entry(4, ctsync.TCP, FlowTuple("10.0.0.1", "1.1.1.1", 65536, 2), SNAT_TCP.reply),
        Entry(4, 47, SNAT_TCP.orig, SNAT_TCP.reply),
        Entry(6, ctsync.ICMP, SNAT_TCP.orig, SNAT_TCP.reply),
        Entry(5, ctsync.TCP, SNAT_TCP.orig, SNAT_TCP.reply),
        Entry(4, ctsync.TCP, SNAT_TCP.orig, SNAT_TCP.reply, status=ctsync.CONFIRMED),
        Entry(4, ctsync.TCP, SNAT_TCP.orig, SNAT_TCP.reply, timeout=-1),
    ],
)
def test_entries_that_cannot_be_encoded(entry: Entry) -> None:
    with pytest.raises(ValueError):
        ctsync.encode([entry], [], router_id="r", seq=0)


@pytest.mark.parametrize("router_id", ["", "r" * 65])
def test_router_id_length(router_id: str) -> None:
    with pytest.raises(ValueError):
        ctsync.encode([], [], router_id=router_id, seq=0)


def _datagram(*records: bytes, ups: int = 0, dels: int = 0, version: int = 1) -> bytes:
    header = struct.pack(">2sBBQHHB", b"KC", version, 0, 1, ups, dels, 2)
    return header + b"r1" + b"".join(records)


_TUPLE4 = socket.inet_aton("10.0.0.1") + socket.inet_aton("10.0.0.2") + b"\x00\x01\x00\x02"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"KC",
        b"\x00" * 40,
        b'{"v": 1, "router": "r1"}',
        _datagram(version=2),
        _datagram() + b"\x00",  # trailing byte
        _datagram(ups=1),  # missing record
        _datagram(dels=1),
        struct.pack(">2sBBQHHB", b"KC", 1, 0, 1, 0, 0, 0),  # empty router id
        struct.pack(">2sBBQHHB", b"KC", 1, 0, 1, 0, 0, 2) + b"\xff\xfe",  # not UTF-8
        _datagram(struct.pack(">BBH", 5, 6, 0) + _TUPLE4, dels=1),  # no IPv5
        _datagram(struct.pack(">BBH", 4, 47, 0) + _TUPLE4, dels=1),  # GRE
        _datagram(struct.pack(">BBH", 4, 58, 0) + _TUPLE4, dels=1),  # ICMPv6 over IPv4
        _datagram(struct.pack(">BBBBIIH", 4, 6, 0x08, 3, 1, 0, 0) + _TUPLE4 * 2 + b"\0" * 4,
                  ups=1),  # CONFIRMED is not a synced bit
        _datagram(struct.pack(">BBBBIIH", 4, 6, 2, 10, 1, 0, 0) + _TUPLE4 * 2 + b"\0" * 4,
                  ups=1),  # no TCP state 10
        _datagram(struct.pack(">BBBBIIH", 4, 17, 2, 3, 1, 0, 0) + _TUPLE4 * 2, ups=1),
        _datagram(struct.pack(">BBBBIIH", 4, 6, 2, 3, 1, 0, 0) + _TUPLE4 * 2, ups=1),  # no TCP info
    ],
)  # fmt: skip
def test_garbage_is_rejected(data: bytes) -> None:
    with pytest.raises(ValueError):
        ctsync.decode(data)


def test_every_truncation_is_rejected() -> None:
    [datagram] = ctsync.encode(ENTRIES, ENTRIES, router_id="r1", seq=1)
    for size in range(len(datagram)):
        with pytest.raises(ValueError):
            ctsync.decode(datagram[:size])


def test_corrupted_datagrams_decode_or_raise_value_error() -> None:
    [datagram] = ctsync.encode(ENTRIES, ENTRIES[:2], router_id="r1", seq=1)
    rng = random.Random(7)
    for _ in range(3000):
        data = bytearray(datagram)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        try:
            ctsync.decode(bytes(data))
        except ValueError:
            pass


# -- what is synced ------------------------------------------------------------


@pytest.mark.parametrize(
    ("proto", "status", "state", "synced"),
    [
        (ctsync.TCP, SEEN, ctsync.TCP_ESTABLISHED, True),
        (ctsync.TCP, SEEN, ctsync.TCP_FIN_WAIT, True),
        (ctsync.TCP, SEEN, ctsync.TCP_CLOSE_WAIT, True),
        (ctsync.TCP, SEEN, ctsync.TCP_LAST_ACK, True),
        (ctsync.TCP, 0, ctsync.TCP_SYN_SENT, False),
        (ctsync.TCP, ctsync.SEEN_REPLY, ctsync.TCP_SYN_RECV, False),
        (ctsync.TCP, SEEN, ctsync.TCP_TIME_WAIT, False),
        (ctsync.TCP, SEEN, ctsync.TCP_CLOSE, False),
        (ctsync.UDP, 0, 0, False),
        (ctsync.UDP, ctsync.SEEN_REPLY, 0, True),
        (ctsync.ICMP, ctsync.SEEN_REPLY, 0, True),
    ],
)
def test_worth_syncing(proto: int, status: int, state: int, synced: bool) -> None:
    entry = Entry(4, proto, SNAT_TCP.orig, SNAT_TCP.reply, status, state)
    assert ctsync.worth_syncing(entry) is synced


# -- ctnetlink messages ----------------------------------------------------------


def kernel_message(e: Entry, *, protoinfo: bool = True) -> bytes:
    """An entry as the kernel reports it (dump or event), after the nlmsghdr."""
    family = socket.AF_INET if e.l3 == 4 else socket.AF_INET6
    attrs = ctnetlink._tuple_attr(ctnetlink._CTA_TUPLE_ORIG, e.l3, e.proto, e.orig)
    attrs += ctnetlink._tuple_attr(ctnetlink._CTA_TUPLE_REPLY, e.l3, e.proto, e.reply)
    attrs += ctnetlink._nla(
        ctnetlink._CTA_STATUS, ctnetlink._be32(e.status | ctsync.CONFIRMED | 0x180)
    )
    attrs += ctnetlink._nla(ctnetlink._CTA_TIMEOUT, ctnetlink._be32(e.timeout))
    attrs += ctnetlink._nla(ctnetlink._CTA_MARK, ctnetlink._be32(e.mark))
    if e.zone:
        attrs += ctnetlink._nla(ctnetlink._CTA_ZONE, ctnetlink._be16(e.zone))
    if e.proto == ctsync.TCP and protoinfo:
        attrs += ctnetlink._protoinfo_attr(e)
    return struct.pack("=BBH", family, 0, 0) + attrs


@pytest.mark.parametrize("entry", ENTRIES)
def test_kernel_messages_parse_back(entry: Entry) -> None:
    assert ctnetlink.parse_entry(kernel_message(entry)) == (entry, True)


def test_an_event_without_tcp_state_is_incomplete() -> None:
    parsed = ctnetlink.parse_entry(kernel_message(SNAT_TCP, protoinfo=False))
    assert parsed is not None and parsed[1] is False


def test_unsupported_or_broken_messages_are_skipped() -> None:
    gre = Entry(4, 47, SNAT_TCP.orig, SNAT_TCP.reply)
    assert ctnetlink.parse_entry(kernel_message(gre)) is None
    assert ctnetlink.parse_entry(kernel_message(SNAT_TCP)[:30]) is None
    assert ctnetlink.parse_entry(b"\x07\x00\x00\x00") is None  # neither IPv4 nor IPv6


def test_creation_carries_the_unnated_reply_and_the_nat_range() -> None:
    attrs = ctnetlink._attrs(ctnetlink._create_attrs(SNAT_TCP))
    _, reply = ctnetlink._parse_tuple(4, attrs[ctnetlink._CTA_TUPLE_REPLY])
    assert reply == SNAT_TCP.orig.swapped()
    nat = ctnetlink._attrs(attrs[ctnetlink._CTA_NAT_SRC])
    assert nat[1] == nat[2] == socket.inet_aton("203.0.113.10")
    ports = ctnetlink._attrs(nat[ctnetlink._NAT_PROTO])
    assert ports[1] == ports[2] == struct.pack(">H", 61001)
    assert ctnetlink._CTA_NAT_DST not in attrs
    status = struct.unpack(">I", attrs[ctnetlink._CTA_STATUS])[0]
    assert status == ctsync.SEEN_REPLY | ctsync.ASSURED | ctsync.CONFIRMED


def test_destination_nat_maps_to_the_reply_source() -> None:
    udp = ENTRIES[1]
    attrs = ctnetlink._attrs(ctnetlink._create_attrs(udp))
    dst = ctnetlink._attrs(attrs[ctnetlink._CTA_NAT_DST])
    assert dst[1] == socket.inet_aton("10.0.0.5")
    assert ctnetlink._attrs(dst[ctnetlink._NAT_PROTO])[1] == struct.pack(">H", 53)
    src = ctnetlink._attrs(attrs[ctnetlink._CTA_NAT_SRC])
    assert src[1] == socket.inet_aton("203.0.113.10")


def test_icmp_unnated_reply_keeps_the_reply_type() -> None:
    icmp = ENTRIES[2]
    assert ctentry.unnated_reply(icmp.proto, icmp.orig, icmp.reply) == FlowTuple(
        "203.0.113.20", "10.0.0.2", 77, 0
    )
    assert ctsync.key_entry(4, ctsync.ICMP, icmp.orig).reply.dport == 0


# -- the Watcher's handling of events ------------------------------------------


class FakeConntrack:
    def __init__(self, *entries: Entry) -> None:
        self.entries = {e.key: e for e in entries}
        self.asked: list[Entry] = []

    def get(self, e: Entry) -> Entry | None:
        self.asked.append(e)
        return self.entries.get(e.key)


def watcher(fake: FakeConntrack) -> ctsync.Watcher:
    w = ctsync.Watcher("unused", lambda ups, dels: None)
    w._ct = fake  # type: ignore[assignment]
    return w


def events(w: ctsync.Watcher, *items: tuple[int, bytes]) -> tuple[list[Entry], list[Entry]]:
    ups: dict[ctsync.Key, Entry] = {}
    dels: dict[ctsync.Key, Entry] = {}
    for kind, payload in items:
        w._event(kind, payload, ups, dels)
    return list(ups.values()), list(dels.values())


NEW, DESTROY = ctnetlink.MSG_NEW, ctnetlink.MSG_DELETE


def state(e: Entry, tcp_state: int, status: int = SEEN) -> bytes:
    return kernel_message(Entry(e.l3, e.proto, e.orig, e.reply, status, tcp_state, e.tcp_wscale,
                                e.tcp_flags, e.timeout, e.mark, e.zone))  # fmt: skip


def test_handshake_is_skipped_then_the_latest_state_wins() -> None:
    w = watcher(FakeConntrack())
    ups, dels = events(
        w,
        (NEW, state(SNAT_TCP, ctsync.TCP_SYN_SENT, 0)),
        (NEW, state(SNAT_TCP, ctsync.TCP_SYN_RECV, ctsync.SEEN_REPLY)),
        (NEW, state(SNAT_TCP, ctsync.TCP_ESTABLISHED)),
        (NEW, state(SNAT_TCP, ctsync.TCP_FIN_WAIT)),
    )
    assert [e.tcp_state for e in ups] == [ctsync.TCP_FIN_WAIT] and dels == []


def test_time_wait_and_destroy_of_a_sent_entry_are_deletes() -> None:
    w = watcher(FakeConntrack())
    events(w, (NEW, state(SNAT_TCP, ctsync.TCP_ESTABLISHED)))
    ups, dels = events(w, (NEW, state(SNAT_TCP, ctsync.TCP_TIME_WAIT)))
    assert ups == [] and [e.key for e in dels] == [SNAT_TCP.key]
    # destroyed later: already deleted, nothing more to say
    assert events(w, (DESTROY, state(SNAT_TCP, ctsync.TCP_TIME_WAIT))) == ([], [])


def test_entries_never_sent_are_never_deleted() -> None:
    w = watcher(FakeConntrack())
    udp = ENTRIES[1]
    assert events(w, (NEW, kernel_message(Entry(4, ctsync.UDP, udp.orig, udp.reply))),
                  (DESTROY, kernel_message(udp))) == ([], [])  # fmt: skip


def test_destroyed_then_reused_tuple_is_a_delete_and_an_upsert() -> None:
    w = watcher(FakeConntrack())
    events(w, (NEW, state(SNAT_TCP, ctsync.TCP_ESTABLISHED)))
    ups, dels = events(
        w, (DESTROY, kernel_message(SNAT_TCP)), (NEW, state(SNAT_TCP, ctsync.TCP_ESTABLISHED))
    )
    assert [e.key for e in dels] == [e.key for e in ups] == [SNAT_TCP.key]


def test_an_event_without_tcp_state_is_read_back_from_the_kernel() -> None:
    fake = FakeConntrack(SNAT_TCP)
    w = watcher(fake)
    ups, _ = events(w, (NEW, kernel_message(SNAT_TCP, protoinfo=False)))
    assert ups == [SNAT_TCP] and [e.key for e in fake.asked] == [SNAT_TCP.key]


def test_a_failing_on_change_has_its_deletes_sent_again() -> None:
    def broken(ups: list[Entry], dels: list[Entry]) -> None:
        raise RuntimeError("peer unreachable")

    w = ctsync.Watcher("unused", broken)
    w._known = set()
    assert w._deliver([], [SNAT_TCP]) is False
    assert w._known == {SNAT_TCP.key} and w.stats["failures"] == 1
