"""The resolver's answers to real query datagrams (built here byte by byte)."""

from __future__ import annotations

import struct

from kumo.compiler.plan import DnsRecord, DnsZone
from kumo.dns import answers

ZONE = DnsZone(
    "km-x",
    "net",
    askers=(("10.0.0.11", "alice"), ("10.0.0.13", "bob")),
    records=(
        DnsRecord("alice", "10.0.0.12", "db.openstacklocal.", ("db.", "db.openstacklocal.")),
        DnsRecord("alice", "fd00::12", "db.openstacklocal.", ("db.", "db.openstacklocal.")),
        DnsRecord(
            "bob", "10.0.0.13", "secret.openstacklocal.", ("secret.", "secret.openstacklocal.")
        ),
    ),  # fmt: skip
)


def query(name: str, qtype: int, qid: int = 0x1234, flags: int = 0x0100) -> bytes:
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".")) + b"\0"
    return struct.pack("!HHHHHH", qid, flags, 1, 0, 0, 0) + q + struct.pack("!HH", qtype, 1)


def decode(reply: bytes | None) -> tuple[int, int, list[tuple[int, bytes]]]:
    """(id, rcode, [(type, rdata)]) of a reply."""
    assert reply is not None
    qid, flags, qd, an, _, _ = struct.unpack_from("!HHHHHH", reply)
    assert flags & 0x8000 and qd == 1
    pos = 12
    while reply[pos]:
        pos += reply[pos] + 1
    pos += 5
    out = []
    for _ in range(an):
        assert reply[pos : pos + 2] == b"\xc0\x0c"
        rtype, _cls, _ttl, length = struct.unpack_from("!HHIH", reply, pos + 2)
        out.append((rtype, reply[pos + 12 : pos + 12 + length]))
        pos += 12 + length
    return qid, flags & 0xF, out


def test_a_aaaa_and_ptr_for_own_project() -> None:
    qid, rcode, got = decode(answers.answer(ZONE, "10.0.0.11", query("DB.openstacklocal", 1)))
    assert (qid, rcode, got) == (0x1234, 0, [(1, bytes([10, 0, 0, 12]))])
    _, rcode, got = decode(answers.answer(ZONE, "10.0.0.11", query("db", 28)))
    assert rcode == 0 and got[0][0] == 28 and got[0][1][:2] == b"\xfd\x00"
    _, rcode, got = decode(answers.answer(ZONE, "10.0.0.11", query("12.0.0.10.in-addr.arpa", 12)))
    assert rcode == 0 and got == [(12, b"\x02db\x0eopenstacklocal\x00")]


def test_other_projects_names_do_not_resolve() -> None:
    _, rcode, got = decode(answers.answer(ZONE, "10.0.0.11", query("secret.openstacklocal", 1)))
    assert rcode == 3 and got == []  # NXDOMAIN: as if it did not exist
    _, rcode, got = decode(answers.answer(ZONE, "10.0.0.11", query("13.0.0.10.in-addr.arpa", 12)))
    assert rcode == 5 and got == []
    _, rcode, got = decode(answers.answer(ZONE, "10.0.0.13", query("secret", 1)))
    assert rcode == 0 and got == [(1, bytes([10, 0, 0, 13]))]


def test_nothing_is_forwarded_and_strangers_are_refused() -> None:
    _, rcode, got = decode(answers.answer(ZONE, "10.0.0.11", query("example.com", 1)))
    assert rcode == 5 and got == []
    _, rcode, _ = decode(answers.answer(ZONE, "10.0.0.99", query("db", 1)))
    assert rcode == 5
    assert answers.answer(ZONE, "10.0.0.11", b"\x00\x01") is None
    assert answers.answer(ZONE, "10.0.0.11", query("db", 1, flags=0x8000)) is None


def test_known_name_without_the_asked_type_is_nodata() -> None:
    only4 = DnsZone("km-x", "net", ZONE.askers, ZONE.records[2:])
    _, rcode, got = decode(answers.answer(only4, "10.0.0.13", query("secret", 28)))
    assert rcode == 0 and got == []
