"""DNS messages (RFC 1035), as far as a stub resolver's queries need: one
question in, a reply with A, AAAA or PTR answers out. Pure."""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

HEADER = struct.Struct("!HHHHHH")
TYPE_A, TYPE_PTR, TYPE_AAAA, TYPE_ANY = 1, 12, 28, 255
CLASS_IN = 1
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
MAX_UDP = 512


class Malformed(ValueError):
    """Not a DNS query this resolver can read (no reply at all)."""


@dataclass(frozen=True)
class Query:
    id: int
    flags: int
    name: str
    """Lower case, with its trailing dot ('.' for the root)."""
    qtype: int
    qclass: int
    question: bytes
    """The question section as it came (echoed in the reply)."""
    qdcount: int

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0xF


def parse(data: bytes) -> Query:
    if len(data) < HEADER.size:
        raise Malformed("short header")
    qid, flags, qdcount, _an, _ns, _ar = HEADER.unpack_from(data)
    if flags & 0x8000:
        raise Malformed("a response, not a query")
    if qdcount == 0:
        return Query(qid, flags, "", 0, 0, b"", 0)
    labels: list[str] = []
    pos = HEADER.size
    while True:
        if pos >= len(data):
            raise Malformed("name runs past the end")
        length = data[pos]
        pos += 1
        if length == 0:
            break
        if length > 63:
            raise Malformed("compressed or extended label in a question")
        label = data[pos : pos + length]
        if len(label) != length:
            raise Malformed("label runs past the end")
        labels.append(label.decode("ascii", "replace").lower())
        pos += length
    if pos + 4 > len(data):
        raise Malformed("no type and class")
    qtype, qclass = struct.unpack_from("!HH", data, pos)
    name = ".".join(labels) + "."
    return Query(qid, flags, name, qtype, qclass, data[HEADER.size : pos + 4], qdcount)


def encode_name(name: str) -> bytes:
    out = bytearray()
    for label in name.rstrip(".").split("."):
        if label:
            raw = label.encode("ascii")
            out.append(len(raw))
            out += raw
    out.append(0)
    return bytes(out)


@dataclass(frozen=True)
class Answer:
    rtype: int
    value: str
    """An address (A, AAAA) or a name with its dot (PTR)."""
    ttl: int = 30


def _rdata(answer: Answer) -> bytes:
    if answer.rtype in (TYPE_A, TYPE_AAAA):
        return ipaddress.ip_address(answer.value).packed
    return encode_name(answer.value)


def reply(
    query: Query, rcode: int, answers: tuple[Answer, ...] = (), authoritative: bool = True
) -> bytes:
    """The reply to ``query``: its question echoed, ``answers`` for its name
    (a pointer to the question's name), RA clear (nothing is recursed)."""
    flags = 0x8000 | (query.opcode << 11) | (query.flags & 0x0100) | (rcode & 0xF)
    if authoritative and rcode in (NOERROR, NXDOMAIN):
        flags |= 0x0400
    question = query.question if query.qdcount == 1 else b""
    body = bytearray()
    count = 0
    for answer in answers:
        rdata = _rdata(answer)
        record = struct.pack("!HHHIH", 0xC00C, answer.rtype, CLASS_IN, answer.ttl, len(rdata))
        if HEADER.size + len(question) + len(body) + len(record) + len(rdata) > MAX_UDP:
            flags |= 0x0200  # TC: what fits is sent
            break
        body += record + rdata
        count += 1
    head = HEADER.pack(query.id, flags, 1 if question else 0, count, 0, 0)
    return head + question + bytes(body)


def reverse_address(name: str) -> str | None:
    """The address an ``in-addr.arpa.`` or ``ip6.arpa.`` name stands for."""
    labels = name.rstrip(".").split(".")
    try:
        if name.endswith(".in-addr.arpa.") and len(labels) == 6:
            return str(ipaddress.IPv4Address(".".join(reversed(labels[:4]))))
        if name.endswith(".ip6.arpa.") and len(labels) == 34:
            nibbles = "".join(reversed(labels[:32]))
            groups = ":".join(nibbles[i : i + 4] for i in range(0, 32, 4))
            return str(ipaddress.IPv6Address(groups))
    except ValueError:
        return None
    return None
