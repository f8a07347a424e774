"""FirewallPlan → nftables JSON commands. Pure.

Two tables named ``kumo`` in the host namespace, written in one transaction:

``bridge kumo`` (forward hook, priority -200, before br_netfilter hands the
frame to the IP hooks): a port's frames jump to its anti-spoofing chain
``s<i>``, which stamps the packet mark with the port's index in the high 16
bits, drops DHCP/DHCPv6 server replies, router advertisements and
redirects, and returns only for frames whose (source MAC, source address)
is one of the port's pairs (IPv4, ARP, IPv6; plus the DHCP, ARP-probe and
DAD forms with an unspecified source from its own MAC); everything else is
dropped. Frames leaving through a filtered port jump to ``o<i>``, which ORs
the port's index into the low 16 bits of the mark.

``inet kumo``: ``pre`` (prerouting, raw priority) puts each network bridge's
packets in that network's conntrack zone (with br_netfilter the input
interface seen there is the bridge); ``pre`` and ``out`` leave the host's
own VXLAN packets untracked. ``forward`` accepts established and
related packets first, then dispatches on the mark: the sender's egress
chain ``e<i>`` (allow rules ``return`` so the receiver's chain still runs),
then the receiver's ingress chain ``i<i>`` (allow rules accept). Both drop
invalid packets and end with a drop; both first let DHCP and the ICMPv6
neighbour-discovery and MLD messages through, as instances need them.

Remote-group addresses live in interval sets (``g4_<group>``,
``g6_<group>``) so membership changes are element updates. An empty set
named ``fp_<digest>`` in each table records the plan's structure digest: the
reconciler compares it to decide between updating set elements and
rewriting the tables.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from kumo.compiler.plan import VXLAN_PORT, FirewallPlan, FirewallRule, PortFilter

TABLE = "kumo"
FINGERPRINT_PREFIX = "fp_"
Json = dict[str, Any]

DHCP_CLIENT_EGRESS = ((4, 68, 67), (6, 546, 547))
DHCP_SERVER_INGRESS = ((4, 67, 68), (6, 547, 546))
ND_EGRESS = (130, 131, 132, 133, 135, 136, 143)
ND_INGRESS = (130, 131, 132, 134, 135, 136, 143)


# -- expression helpers -------------------------------------------------------


def _match(left: Json, right: Any, op: str = "==") -> Json:
    return {"match": {"op": op, "left": left, "right": right}}


def _meta(key: str) -> Json:
    return {"meta": {"key": key}}


def _payload(protocol: str, field: str) -> Json:
    return {"payload": {"protocol": protocol, "field": field}}


def _set_mark(value: Any) -> Json:
    return {"mangle": {"key": _meta("mark"), "value": value}}


def address(cidr: str) -> Any:
    """A CIDR as an nft value: a bare address for host prefixes."""
    net = ipaddress.ip_network(cidr, strict=False)
    if net.prefixlen == net.max_prefixlen:
        return str(net.network_address)
    return {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}


def _add(kind: str, family: str, **body: Any) -> Json:
    return {"add": {kind: {"family": family, "table": TABLE, **body}}}


def _rule(family: str, chain: str, *expr: Json) -> Json:
    return _add("rule", family, chain=chain, expr=list(expr))


ACCEPT: Json = {"accept": None}
DROP: Json = {"drop": None}
RETURN: Json = {"return": None}


def _jump(chain: str) -> Json:
    return {"jump": {"target": chain}}


# -- whole-ruleset rendering --------------------------------------------------


def remove_tables() -> list[Json]:
    """Commands that remove both tables whether or not they exist."""
    out: list[Json] = []
    for family in ("bridge", "inet"):
        table = {"family": family, "name": TABLE}
        out += [{"add": {"table": table}}, {"delete": {"table": table}}]
    return out


def ruleset(plan: FirewallPlan) -> list[Json]:
    """Commands that replace both tables with ``plan`` (one transaction)."""
    out = remove_tables()
    if plan.empty:
        return out
    fingerprint = FINGERPRINT_PREFIX + plan.structure()
    for family in ("bridge", "inet"):
        out.append({"add": {"table": {"family": family, "name": TABLE}}})
        out.append(_add("set", family, name=fingerprint, type="ipv4_addr"))
    out += _bridge(plan)
    out += _inet(plan)
    return out


def _bridge(plan: FirewallPlan) -> list[Json]:
    fam = "bridge"
    out: list[Json] = [
        _add(
            "chain", fam, name="forward", type="filter", hook="forward", prio=-200, policy="accept"
        )
    ]
    for port in plan.ports:
        out.append(_add("chain", fam, name=f"s{port.index}"))
        out.append(_add("chain", fam, name=f"o{port.index}"))
    out.append(_rule(fam, "forward", _set_mark(0)))
    by_in = [[p.ifname, _jump(f"s{p.index}")] for p in plan.ports]
    by_out = [[p.ifname, _jump(f"o{p.index}")] for p in plan.ports]
    out.append(_rule(fam, "forward", {"vmap": {"key": _meta("iifname"), "data": {"set": by_in}}}))
    out.append(_rule(fam, "forward", {"vmap": {"key": _meta("oifname"), "data": {"set": by_out}}}))
    for port in plan.ports:
        out += [_rule(fam, f"s{port.index}", *e) for e in anti_spoofing(port)]
        out.append(_rule(fam, f"o{port.index}", _set_mark({"|": [_meta("mark"), port.index]})))
    return out


def anti_spoofing(port: PortFilter) -> list[list[Json]]:
    """The rules of a port's anti-spoofing chain, each a list of expressions."""
    ip, ip6, arp = (_match(_payload("ether", "type"), t) for t in ("ip", "ip6", "arp"))
    own_mac = _match(_payload("ether", "saddr"), port.mac)
    rules: list[list[Json]] = [
        [_set_mark(port.index << 16)],
        [ip, _match(_payload("udp", "sport"), 67), DROP],
        [ip6, _match(_payload("udp", "sport"), 547), DROP],
        [ip6, _match(_payload("icmpv6", "type"), {"set": [134, 137]}), DROP],
        [ip, own_mac, _match(_payload("ip", "saddr"), "0.0.0.0"),
         _match(_payload("udp", "dport"), 67), RETURN],
        [arp, own_mac, _match(_payload("arp", "saddr ether"), port.mac),
         _match(_payload("arp", "saddr ip"), "0.0.0.0"), RETURN],
        [ip6, own_mac, _match(_payload("ip6", "saddr"), "::"),
         _match(_meta("l4proto"), 58), RETURN],
    ]  # fmt: skip
    for pair in port.pairs:
        mac = _match(_payload("ether", "saddr"), pair.mac)
        value = address(pair.cidr)
        if ipaddress.ip_network(pair.cidr).version == 4:
            rules.append([ip, mac, _match(_payload("ip", "saddr"), value), RETURN])
            rules.append(
                [
                    arp,
                    mac,
                    _match(_payload("arp", "saddr ether"), pair.mac),
                    _match(_payload("arp", "saddr ip"), value),
                    RETURN,
                ]
            )
        else:
            rules.append([ip6, mac, _match(_payload("ip6", "saddr"), value), RETURN])
    rules.append([DROP])
    return rules


def _inet(plan: FirewallPlan) -> list[Json]:
    fam = "inet"
    out: list[Json] = []
    for s in plan.sets:
        body: Json = {
            "name": s.name,
            "type": "ipv4_addr" if s.family == 4 else "ipv6_addr",
            "flags": ["interval"],
        }
        if s.elements:
            body["elem"] = [address(e) for e in sorted(s.elements)]
        out.append(_add("set", fam, **body))
    out.append(
        _add("chain", fam, name="pre", type="filter", hook="prerouting", prio=-300, policy="accept")
    )
    out.append(
        _add("chain", fam, name="forward", type="filter", hook="forward", prio=0, policy="accept")
    )
    for port in plan.ports:
        out.append(_add("chain", fam, name=f"e{port.index}"))
        out.append(_add("chain", fam, name=f"i{port.index}"))
    out.append(
        _add("chain", fam, name="out", type="filter", hook="output", prio=-300, policy="accept")
    )
    # The host's own tunnel packets need no connection state (br_netfilter
    # would otherwise track every encapsulated packet twice).
    tunnel = _match(_payload("udp", "dport"), VXLAN_PORT)
    udp = _match(_meta("l4proto"), 17)
    out.append(_rule(fam, "pre", udp, tunnel, {"notrack": None}))
    out.append(_rule(fam, "out", udp, tunnel, {"notrack": None}))
    if plan.zones:
        zones = [[bridge, zone] for bridge, zone in plan.zones]
        zone_map = {"map": {"key": _meta("iifname"), "data": {"set": zones}}}
        out.append(
            _rule(fam, "pre", {"mangle": {"key": {"ct": {"key": "zone"}}, "value": zone_map}})
        )
    established = _match({"ct": {"key": "state"}}, ["established", "related"], "in")
    out.append(_rule(fam, "forward", established, ACCEPT))
    egress = [[p.index << 16, _jump(f"e{p.index}")] for p in plan.ports]
    ingress = [[p.index, _jump(f"i{p.index}")] for p in plan.ports]
    high = {"&": [_meta("mark"), 0xFFFF0000]}
    low = {"&": [_meta("mark"), 0x0000FFFF]}
    out.append(_rule(fam, "forward", {"vmap": {"key": high, "data": {"set": egress}}}))
    out.append(_rule(fam, "forward", {"vmap": {"key": low, "data": {"set": ingress}}}))
    for port in plan.ports:
        out += [_rule(fam, f"e{port.index}", *e) for e in port_chain(port, "egress")]
        out += [_rule(fam, f"i{port.index}", *e) for e in port_chain(port, "ingress")]
    return out


def port_chain(port: PortFilter, direction: str) -> list[list[Json]]:
    """The rules of a port's egress or ingress chain."""
    verdict = RETURN if direction == "egress" else ACCEPT
    rules: list[list[Json]] = []
    dhcp = DHCP_CLIENT_EGRESS if direction == "egress" else DHCP_SERVER_INGRESS
    for family, sport, dport in dhcp:
        rules.append(
            [
                _match(_meta("nfproto"), "ipv4" if family == 4 else "ipv6"),
                _match(_meta("l4proto"), 17),
                _match(_payload("udp", "sport"), sport),
                _match(_payload("udp", "dport"), dport),
                verdict,
            ]
        )
    nd = ND_EGRESS if direction == "egress" else ND_INGRESS
    rules.append(
        [
            _match(_meta("nfproto"), "ipv6"),
            _match(_meta("l4proto"), 58),
            _match(_payload("icmpv6", "type"), {"set": list(nd)}),
            verdict,
        ]
    )
    rules.append([_match({"ct": {"key": "state"}}, "invalid", "in"), DROP])
    for rule in port.rules:
        if rule.direction == direction:
            rules.append([*rule_match(rule), verdict])
    rules.append([DROP])
    return rules


def rule_match(rule: FirewallRule) -> list[Json]:
    """The match expressions of one security group rule."""
    ip = "ip" if rule.family == 4 else "ip6"
    out = [_match(_meta("nfproto"), "ipv4" if rule.family == 4 else "ipv6")]
    if rule.remote is not None:
        field = "saddr" if rule.direction == "ingress" else "daddr"
        value = rule.remote if rule.remote.startswith("@") else address(rule.remote)
        out.append(_match(_payload(ip, field), value))
    if rule.protocol is not None:
        out.append(_match(_meta("l4proto"), rule.protocol))
    if rule.port_min is not None:
        port_max = rule.port_max if rule.port_max is not None else rule.port_min
        value = rule.port_min if port_max == rule.port_min else {"range": [rule.port_min, port_max]}
        out.append(_match(_payload("th", "dport"), value))
    if rule.icmp_type is not None:
        icmp = "icmp" if rule.protocol == 1 else "icmpv6"
        out.append(_match(_payload(icmp, "type"), rule.icmp_type))
        if rule.icmp_code is not None:
            out.append(_match(_payload(icmp, "code"), rule.icmp_code))
    return out


# -- set element updates --------------------------------------------------------


def element_changes(name: str, add: frozenset[str], remove: frozenset[str]) -> list[Json]:
    """Commands that bring one set's elements up to date in place."""
    out: list[Json] = []
    if remove:
        body = {"name": name, "elem": [address(e) for e in sorted(remove)]}
        out.append({"delete": {"element": {"family": "inet", "table": TABLE, **body}}})
    if add:
        body = {"name": name, "elem": [address(e) for e in sorted(add)]}
        out.append({"add": {"element": {"family": "inet", "table": TABLE, **body}}})
    return out


def parse_element(value: Any) -> str:
    """A set element as the kernel lists it, in the plan's string form."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "prefix" in value:
        return f"{value['prefix']['addr']}/{value['prefix']['len']}"
    if isinstance(value, dict) and "range" in value:
        low, high = value["range"]
        nets = ipaddress.summarize_address_range(
            ipaddress.ip_address(low), ipaddress.ip_address(high)
        )
        return ",".join(str(n) for n in nets)
    if isinstance(value, dict) and "elem" in value:
        return parse_element(value["elem"]["val"])
    return str(value)
