"""NatTable → nftables JSON for one router namespace. Pure.

One table ``ip kumo_nat``: ``pre`` (nat prerouting) translates floating IPs
to fixed IPs, ``post`` (nat postrouting) translates fixed IPs to their
floating IPs, then everything else leaving through the gateway to the
router's external IP (``snat to``, never ``masquerade``: masquerade entries
are flushed when an address moves). An empty ``fp_<digest>`` set records
what was written.

Metering: filter chains around the translation count bytes in named
counters. ``meter_in`` (prerouting, before ``pre``) counts what arrives
for each floating IP (``fin_<ip>``, still addressed to it) and through
the gateway (``gw_in``); ``meter_out`` (postrouting, after ``post``)
counts what leaves from each floating IP (``fout_<ip>``, already
translated) and through the gateway (``gw_out``). Translation happens
for every packet of a connection at its hook, so these see every packet.

QoS of floating IPs (``qos-fip``): ``limit_in`` (prerouting, before
``pre``) drops what arrives for a floating IP over its ingress rate,
``limit_out`` (postrouting, after ``post``) what leaves from it over its
egress rate (nft's ``limit rate over``: a token bucket per rule, as on
ports).
"""

from __future__ import annotations

import hashlib

from kumo.compiler.forwarding import HAIRPIN_MARK, LEG_MAC_PREFIX
from kumo.compiler.plan import NatTable, PortDnat, PortRelay
from kumo.dataplane.nftables.render import FINGERPRINT_PREFIX, Json, address

TABLE = "kumo_nat"


def counter_name(kind: str, ip: str) -> str:
    """``fin``/``fout`` counter of a floating IP (dots are not welcome in names)."""
    return f"{kind}_{ip.replace('.', '_')}"


def floating_ip_of(name: str) -> tuple[str, str] | None:
    """(direction ``in``/``out``, floating IP) of a floating IP counter's name."""
    kind, _, rest = name.partition("_")
    if kind not in ("fin", "fout") or not rest:
        return None
    return ("in" if kind == "fin" else "out"), rest.replace("_", ".")


FORWARD_TABLE = "kumo_snatfwd"
"""The netdev table of a gateway namespace forwarding distributed SNAT's
return traffic (text syntax: its maps are typed by expressions)."""


def fingerprint(table: NatTable) -> str:
    shape: tuple[object, ...] = (table.snat, table.dnat)
    if table.no_snat:
        shape += (table.no_snat,)
    if table.forward:
        shape += (table.forward, table.forward_ifname, table.forward_mac)
    if table.limits:
        shape += (table.limits,)
    if table.port_dnat or table.reply_mark or table.relay:
        shape += (table.port_dnat, table.reply_mark, table.relay, table.relay_ifname,
                  table.relay_mac)  # fmt: skip
    if table.hairpin_ifname:
        shape += (table.hairpin_ifname,)
    if table.hairpin_sources or table.steer:
        shape += (table.hairpin_sources, table.steer, table.steer_ifnames)
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
    for p in table.port_dnat:
        match = [
            _match(("ip", "daddr"), p.external_ip),
            _match((p.protocol, "dport"), _ports(p.external_port, p.external_port_end)),
        ]
        if table.hairpin_ifname:
            # from an instance of the router's networks: marked, to leave
            # from the router's address (the replies come back here)
            out.append(_add("rule", chain="pre", expr=[
                {"match": {"op": "!=", "left": {"meta": {"key": "iifname"}},
                           "right": table.hairpin_ifname}},
                *match,
                {"mangle": {"key": {"meta": {"key": "mark"}}, "value": HAIRPIN_MARK}},
                {"dnat": _port_dnat(p)}]))  # fmt: skip
        if table.hairpin_ifname and table.hairpin_sources:
            # from an instance on another host, steered to the external leg
            out.append(_add("rule", chain="pre", expr=[
                {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                           "right": {"set": [address(c) for c in table.hairpin_sources]}}},
                *match,
                {"mangle": {"key": {"meta": {"key": "mark"}}, "value": HAIRPIN_MARK}},
                {"dnat": _port_dnat(p)}]))  # fmt: skip
        out.append(_add("rule", chain="pre", expr=[*match, {"dnat": _port_dnat(p)}]))
    if table.hairpin_ifname and table.port_dnat:
        out.append(_add("rule", chain="post", expr=[
            _match(("meta", "mark"), HAIRPIN_MARK), {"masquerade": None}]))  # fmt: skip
    for d in table.dnat:
        out.append(
            _add(
                "rule", chain="pre", expr=[_match(("ip", "daddr"), d.dst), {"dnat": {"addr": d.to}}]
            )
        )
    # Floating IPs (a /32 source) before the router-wide SNAT; for one
    # source, rules with ports before the one without, the rarest pick first.
    order = sorted(table.snat, key=lambda x: (x.src is None, x.src or "", x.ports is None,
                                              -x.pick, x))  # fmt: skip
    exempt = False
    for s in order:
        if s.src is None and not exempt:
            # same address scope as the external network: routed, not translated
            exempt = True
            for cidr in table.no_snat:
                out.append(_add("rule", chain="post", expr=[
                    _match(("meta", "oifname"), s.out_ifname),
                    _match(("ip", "saddr"), address(cidr)), {"accept": None}]))  # fmt: skip
        expr: list[Json] = [_match(("meta", "oifname"), s.out_ifname)]
        if s.src is not None:
            expr.append(_match(("ip", "saddr"), address(s.src)))
        to: Json = {"addr": s.to}
        if s.ports is not None:
            expr.append(_match(("meta", "l4proto"), {"set": ["icmp", "tcp", "udp"]}))
            to["port"] = {"range": list(s.ports)}
        if s.pick > 1:
            numgen = {"numgen": {"mode": "random", "mod": s.pick, "offset": 0}}
            expr.append({"match": {"op": "==", "left": numgen, "right": 0}})
        expr.append({"snat": to})
        out.append(_add("rule", chain="post", expr=expr))
    return out + _reply_mark(table) + _meter(table) + _limits(table)


def _limits(table: NatTable) -> list[Json]:
    if not table.limits:
        return []
    out: list[Json] = [
        _add("chain", name="limit_in", type="filter", hook="prerouting", prio=-160,
             policy="accept"),
        _add("chain", name="limit_out", type="filter", hook="postrouting", prio=160,
             policy="accept"),
    ]  # fmt: skip
    for x in table.limits:
        ingress = x.direction == "ingress"
        over = {"limit": {"rate": x.rate, "rate_unit": "bytes", "per": "second",
                          "burst": x.burst, "burst_unit": "bytes", "inv": True}}  # fmt: skip
        out.append(_add("rule", chain="limit_in" if ingress else "limit_out", expr=[
            _match(("meta", "iifname" if ingress else "oifname"), x.ifname),
            _match(("ip", "daddr" if ingress else "saddr"), x.address),
            over, {"drop": None}]))  # fmt: skip
    return out


def _ports(first: int, last: int) -> object:
    """One port, or a range of them."""
    return {"range": [first, last]} if last and last != first else first


def _port_dnat(p: PortDnat) -> Json:
    """Where a forwarding's packets go: one internal port for every
    external one, else each external port to the internal port as far into
    its range (an anonymous map; no map when the numbers are the same)."""
    if not p.internal_port_end or p.internal_port_end == p.internal_port:
        return {"addr": p.internal_ip, "port": p.internal_port}
    if p.internal_port == p.external_port:
        return {"addr": p.internal_ip}
    pairs = [[p.external_port + i, p.internal_port + i]
             for i in range(p.internal_port_end - p.internal_port + 1)]  # fmt: skip
    dport = {"payload": {"protocol": p.protocol, "field": "dport"}}
    return {"addr": p.internal_ip, "port": {"map": {"key": dport, "data": {"set": pairs}}}}


def _reply_mark(table: NatTable) -> list[Json]:
    """Replies of connections translated here (port forwardings') marked
    before routing: a policy rule sends them out through the external leg."""
    if not table.reply_mark:
        return []
    return [
        _add("chain", name="reply", type="filter", hook="prerouting", prio=-150, policy="accept"),
        _add("rule", chain="reply", expr=[
            {"match": {"op": "==", "left": {"ct": {"key": "direction"}}, "right": "reply"}},
            {"match": {"op": "in", "left": {"ct": {"key": "status"}}, "right": "dnat"}},
            # not a hairpin connection's (translated both ways): its replies
            # go back to the instance that opened it
            {"match": {"op": "==", "left": {"&": [{"ct": {"key": "status"}}, "snat"]},
                       "right": 0}},
            {"mangle": {"key": {"meta": {"key": "mark"}}, "value": table.reply_mark}}]),
    ]  # fmt: skip


LEG_PREFIX = LEG_MAC_PREFIX + "00:00:00:00"
"""Every host's external leg MAC, masked to its first two bytes."""
RELAY_TABLE = "kumo_pfrelay"
"""The netdev table of a router namespace relaying port forwardings of the
floating IPs it answers for to the hosts serving them."""


def relay_script(table: NatTable) -> str:
    """The relay of port forwardings served by other hosts (see
    ``kumo.compiler.forwarding``): written anew, or removed when there is
    none. Ingress of the external leg, before conntrack: a frame for a
    relayed (address, protocol, port), not from another host's external
    leg, leaves the leg again with its MACs rewritten."""
    lines = [f"table netdev {RELAY_TABLE} {{}}", f"delete table netdev {RELAY_TABLE}"]
    if not (table.relay or table.steer):
        return "\n".join(lines) + "\n"
    dev = table.relay_ifname
    key = "ip daddr . ip protocol . th dport"
    lines.append(f"table netdev {RELAY_TABLE} {{")
    if table.relay:
        lines += [
            _ports_map("ports", table.relay),
            f'  chain ingress {{ type filter hook ingress device "{dev}" priority -300; '
            "policy accept;",
            f"    ether saddr and ff:ff:00:00:00:00 != {LEG_PREFIX} "
            f"{key} @ports ether saddr set {table.relay_mac} "
            f'ether daddr set {key} map @ports fwd to "{dev}"',
            "  }",
        ]
    if table.steer and table.steer_ifnames:
        # this host's instances' frames for forwardings served elsewhere
        devices = ", ".join(f'"{i}"' for i in table.steer_ifnames)
        lines += [
            _ports_map("elsewhere", table.steer),
            f"  chain hairpin {{ type filter hook ingress devices = {{ {devices} }} "
            "priority -300; policy accept;",
            f"    {key} @elsewhere ether saddr set {table.relay_mac} "
            f'ether daddr set {key} map @elsewhere fwd to "{dev}"',
            "  }",
        ]
    lines.append("}")
    return "\n".join(lines) + "\n"


def _ports_map(name: str, relays: tuple[PortRelay, ...]) -> str:
    """A map (address, protocol, external port) -> serving leg's MAC."""
    elems = ", ".join(
        f"{r.external_ip} . {r.protocol} . {_span(r.external_port, r.external_port_end)} : {r.mac}"
        for r in relays
    )
    ranged = any(r.external_port_end and r.external_port_end != r.external_port
                 for r in relays)  # fmt: skip
    return (
        f"  map {name} {{ typeof ip daddr . ip protocol . th dport : ether daddr; "
        f"{'flags interval; ' if ranged else ''}elements = {{ {elems} }} }}"
    )


def _span(first: int, last: int) -> str:
    return f"{first}-{last}" if last and last != first else str(first)


def forward_script(table: NatTable) -> str:
    """The gateway's forwarding of leased blocks' return traffic (see
    ``kumo.compiler.snat``): written anew, or removed when there is none.
    Ingress of the external leg, before conntrack: a packet to a leased
    (address, port) leaves the leg again with its MACs rewritten."""
    lines = [f"table netdev {FORWARD_TABLE} {{}}", f"delete table netdev {FORWARD_TABLE}"]
    if not table.forward:
        return "\n".join(lines) + "\n"
    elems = ", ".join(
        f"{f.external_ip} . {f.port_min}-{f.port_max} : {f.mac}" for f in table.forward
    )
    dev = table.forward_ifname
    lines += [
        f"table netdev {FORWARD_TABLE} {{",
        f"  map ports {{ typeof ip daddr . th dport : ether daddr; flags interval; "
        f"elements = {{ {elems} }} }}",
        f"  map echo {{ typeof ip daddr . icmp id : ether daddr; flags interval; "
        f"elements = {{ {elems} }} }}",
        f'  chain ingress {{ type filter hook ingress device "{dev}" priority -300; policy accept;',
        f"    ip protocol {{ tcp, udp }} ip daddr . th dport @ports "
        f"ether saddr set {table.forward_mac} "
        f'ether daddr set ip daddr . th dport map @ports fwd to "{dev}"',
        f"    ip protocol icmp icmp type echo-reply ip daddr . icmp id @echo "
        f"ether saddr set {table.forward_mac} "
        f'ether daddr set ip daddr . icmp id map @echo fwd to "{dev}"',
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def _meter(table: NatTable) -> list[Json]:
    out: list[Json] = [
        _add("chain", name="meter_in", type="filter", hook="prerouting", prio=-150,
             policy="accept"),
        _add("chain", name="meter_out", type="filter", hook="postrouting", prio=150,
             policy="accept"),
    ]  # fmt: skip
    for d in sorted(table.dnat):
        name = counter_name("fin", d.dst)
        out.append(_add("counter", name=name))
        out.append(_add("rule", chain="meter_in",
                        expr=[_match(("ip", "daddr"), d.dst), {"counter": name}]))  # fmt: skip
    for s in sorted(table.snat, key=lambda x: (x.src or "", x.to, x.out_ifname)):
        if s.src is not None and s.src.endswith("/32") and s.ports is None:  # floating IPs
            name = counter_name("fout", s.to)
            out.append(_add("counter", name=name))
            out.append(_add("rule", chain="meter_out", expr=[
                _match(("meta", "oifname"), s.out_ifname), _match(("ip", "saddr"), s.to),
                {"counter": name}]))  # fmt: skip
    gateways = sorted({s.out_ifname for s in table.snat if s.src is None})
    if gateways:
        out.append(_add("counter", name="gw_in"))
        out.append(_add("counter", name="gw_out"))
    for gw in gateways:
        out.append(_add("rule", chain="meter_in",
                        expr=[_match(("meta", "iifname"), gw), {"counter": "gw_in"}]))  # fmt: skip
        out.append(_add("rule", chain="meter_out",
                        expr=[_match(("meta", "oifname"), gw), {"counter": "gw_out"}]))  # fmt: skip
    return out
