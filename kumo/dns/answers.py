"""What the resolver answers: a zone, the asker's address and a query in,
a reply out. Pure.

An asker that is not one of the zone's instance ports is REFUSED. Its own
project's names (``DnsRecord.names``) answer A, AAAA (or both for ANY),
and their addresses PTR; a known name without an address of the asked
type answers NOERROR with no records. A name that is not its project's
answers NXDOMAIN when it lies where the zone's names do (a single label,
or under one of their domains), so another project's names look like
names that do not exist; every other name is REFUSED: nothing is
forwarded and nothing leaves the host.
"""

from __future__ import annotations

import ipaddress

from kumo.compiler.plan import DnsZone
from kumo.dns import codec


def _version(ip: str) -> int:
    return ipaddress.ip_address(ip).version


def domains_of(zone: DnsZone) -> frozenset[str]:
    """The domains the zone's names lie under (each with its dot)."""
    return frozenset(n.split(".", 1)[1] for r in zone.records for n in r.names if n.count(".") > 1)


def answer(zone: DnsZone, asker: str, data: bytes) -> bytes | None:
    """The reply datagram to ``data`` from ``asker`` (None: not a query; drop it)."""
    try:
        query = codec.parse(data)
    except codec.Malformed:
        return None
    if query.opcode != 0:
        return codec.reply(query, codec.NOTIMP)
    if query.qdcount != 1:
        return codec.reply(query, codec.FORMERR)
    project = next((p for ip, p in zone.askers if ip == asker), None)
    if project is None or query.qclass != codec.CLASS_IN:
        return codec.reply(query, codec.REFUSED)
    own = [r for r in zone.records if r.project_id == project]
    ptr_ip = codec.reverse_address(query.name)
    if ptr_ip is not None:
        found = sorted({r.fqdn for r in own if r.ip == ptr_ip})
        if not found:
            return codec.reply(query, codec.REFUSED)
        if query.qtype not in (codec.TYPE_PTR, codec.TYPE_ANY):
            return codec.reply(query, codec.NOERROR)
        return codec.reply(
            query, codec.NOERROR, tuple(codec.Answer(codec.TYPE_PTR, f) for f in found)
        )
    matching = [r for r in own if query.name in r.names]
    if not matching:
        label_only = query.name.count(".") == 1
        under = query.name.split(".", 1)[1] if not label_only else ""
        if label_only or under in domains_of(zone):
            return codec.reply(query, codec.NXDOMAIN)
        return codec.reply(query, codec.REFUSED)
    wanted = {codec.TYPE_A: (4,), codec.TYPE_AAAA: (6,), codec.TYPE_ANY: (4, 6)}.get(
        query.qtype, ()
    )
    out = []
    for ip in sorted({r.ip for r in matching}):
        version = _version(ip)
        if version in wanted:
            out.append(codec.Answer(codec.TYPE_A if version == 4 else codec.TYPE_AAAA, ip))
    return codec.reply(query, codec.NOERROR, tuple(out))
