"""NatTable → nftables JSON for one router namespace. Pure.

One table ``ip kumo_nat``: ``pre`` (nat prerouting) translates floating IPs
to fixed IPs, ``post`` (nat postrouting) translates fixed IPs to their
floating IPs, then everything else leaving through the gateway to the
router's external IP (``snat to``, never ``masquerade``: masquerade entries
are flushed when an address moves). An empty ``fp_<digest>`` set records
what was written.
"""

from __future__ import annotations

import hashlib

from kumo.compiler.plan import NatTable
from kumo.dataplane.nftables.render import FINGERPRINT_PREFIX, Json, address

TABLE = "kumo_nat"


def fingerprint(table: NatTable) -> str:
    shape = (table.snat, table.dnat)
    return FINGERPRINT_PREFIX + hashlib.sha256(repr(shape).encode()).hexdigest()[:16]


def _add(kind: str, **body: object) -> Json:
    return {"add": {kind: {"family": "ip", "table": TABLE, **body}}}


def _match(field: tuple[str, str], value: object) -> Json:
    protocol, name = field
    left: Json = (
        {"meta": {"key": name}}
        if protocol == "meta"
        else {"payload": {"protocol": protocol, "field": name}}
    )
    return {"match": {"op": "==", "left": left, "right": value}}


def nat_ruleset(table: NatTable) -> list[Json]:
    ident = {"family": "ip", "name": TABLE}
    out: list[Json] = [{"add": {"table": ident}}, {"delete": {"table": ident}}]
    out.append({"add": {"table": ident}})
    out.append(_add("set", name=fingerprint(table), type="ipv4_addr"))
    out.append(_add("chain", name="pre", type="nat", hook="prerouting", prio=-100, policy="accept"))
    out.append(
        _add("chain", name="post", type="nat", hook="postrouting", prio=100, policy="accept")
    )
    for d in table.dnat:
        out.append(
            _add(
                "rule", chain="pre", expr=[_match(("ip", "daddr"), d.dst), {"dnat": {"addr": d.to}}]
            )
        )
    # Floating IPs (a /32 source) before the router-wide SNAT.
    for s in sorted(table.snat, key=lambda x: (x.src is None, x)):
        expr: list[Json] = [_match(("meta", "oifname"), s.out_ifname)]
        if s.src is not None:
            expr.append(_match(("ip", "saddr"), address(s.src)))
        expr.append({"snat": {"addr": s.to}})
        out.append(_add("rule", chain="post", expr=expr))
    return out
