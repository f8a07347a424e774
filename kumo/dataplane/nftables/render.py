"""FirewallPlan → nftables JSON commands. Pure.

Two tables named ``kumo`` in the host namespace, written in one transaction:

``bridge kumo`` (forward hook, priority -200, before br_netfilter hands the
frame to the IP hooks): the data map ``out_mark`` sets the packet mark to
the index of the filtered port a frame leaves through (low 16 bits); then
the verdict map ``in_port`` sends a port's frames (by input interface) to
its anti-spoofing chain ``s<i>``, which ORs the port's index into the high
16 bits, drops DHCP/DHCPv6 server replies, router advertisements and
redirects, and returns only for frames whose (source MAC, source address)
is one of the port's pairs (IPv4, ARP, IPv6; plus the DHCP, ARP-probe and
DAD forms with an unspecified source from its own MAC); everything else is
dropped.

``inet kumo``: ``pre`` (prerouting, raw priority) puts each network bridge's
packets in that network's conntrack zone (with br_netfilter the input
interface seen there is the bridge); ``pre`` and ``out`` leave the host's
own VXLAN packets untracked. ``forward`` accepts established and
related packets first, then dispatches on the mark through the verdict maps
``egress`` (high half: the sender's egress chain; allow rules ``return``
so the receiver's chain still runs) and ``ingress`` (low half: the
receiver's ingress chain; allow rules accept). Both drop invalid packets
and end with a drop; both first let DHCP and the ICMPv6 neighbour-discovery
and MLD messages through, as instances need them. These chains depend on
a port's rules only, so ports with the same rules (all ports of a group,
typically) share one pair, ``e_<digest>`` and ``i_<digest>``.

A port's index is stable (derived from its id, see
``kumo.compiler.firewall.port_indices``) and the dispatch lives in named
maps, so ``changes`` turns one plan's tables into the next plan's by adding
or removing only the chain and map elements of ports that came, went or
changed (and a shared pair when its first port comes or its last goes), in
one transaction: a port joining a host of 1,000 costs its own ~20
commands, not a rewrite of ~29,000.

What a port's transaction costs must not grow with the ports on the host:
before any transaction that adds an element or a rule, libnftables (1.0.6)
reads into its cache every table's chains (not their rules), sets,
anonymous sets and named objects (counters), and the elements of every
interval set. So the per-port state holds none of those but one chain:
no named counters (``tx_cnt``/``rx_cnt`` below), no anonymous set in the
anti-spoofing rules, and a remote group's addresses in a hash set (only
its prefixes, usually none, in an interval set). With 1,040 ports, named
counters cost such a transaction ~3 ms of CPU, the anonymous sets ~1.5 ms
and a 1,100-address interval set ~1.7 ms; what is left grows with the
chains (1,040: ~0.6 ms, their read and the kernel's check of the table).

Traffic metering: the sets ``tx_cnt`` and ``rx_cnt`` (type mark) count
per element: each filtered port has an element in both, its index in the
high half of the mark in ``tx_cnt`` (frames the port sent that passed its
anti-spoofing chain) and in the low half in ``rx_cnt`` (frames bridged to
the port), matched by two rules of ``forward`` after the dispatch. Two
``nft -j list set`` read every port's counts (``port_counters`` names them
``tx<i>`` and ``rx<i>``).

Stateless ports: ``bridge kumo`` also has a ``raw`` chain (prerouting,
priority -300, before br_netfilter hands frames to conntrack) that marks
as untracked every frame from a stateless port (its interface in the set
``stateless_if``) or to one (its MAC in ``stateless_mac``). Untracked
packets never match the established shortcut of ``forward``: the port's
rules decide each packet, replies included, as Neutron's stateless groups
do.

Remote-group addresses live in sets so membership changes are element
updates: single addresses in the hash set named as the plan's set
(``g4_<group>``, ``g6_<group>``), prefixes in the interval set of that name
and ``_n`` (``prefix_set``); a rule naming the group is rendered once per
set. An empty set named ``fp5_<digest>`` in each table records the plan's
structure digest: the reconciler compares it to learn which plan the tables
hold (and so what ``changes`` starts from) or that they must be rewritten.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from kumo.compiler.ipnet import plain_ipv4
from kumo.compiler.plan import VXLAN_PORT, AddressSet, FirewallPlan, FirewallRule, PortFilter

TABLE = "kumo"
IN_MAP = "in_port"
OUT_MAP = "out_mark"
EGRESS_MAP = "egress"
INGRESS_MAP = "ingress"
TX_SET = "tx_cnt"
RX_SET = "rx_cnt"
STATELESS_IF = "stateless_if"
STATELESS_MAC = "stateless_mac"
FINGERPRINT_PREFIX = "fp4_"
"""(Named for the tables' layout: tables an older layout wrote never match.)"""
FIREWALL_FINGERPRINT = "fp5_"
"""The host firewall's (its layout changed after the other tables')."""
Json = dict[str, Any]
HIGH_HALF = 0xFFFF0000
"""The mark's half holding the sending port's index (see ``anti_spoofing``)."""
LOW_HALF = 0x0000FFFF
"""The mark's half holding the receiving port's index (``out_mark``)."""

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
    if plain_ipv4(cidr):
        return cidr
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
    fingerprint = FIREWALL_FINGERPRINT + plan.structure()
    for family in ("bridge", "inet"):
        out.append({"add": {"table": {"family": family, "name": TABLE}}})
        out.append(_add("set", family, name=fingerprint, type="ipv4_addr"))
    out += _bridge(plan)
    out += _inet(plan)
    for port in _shared(plan).values():
        out += _inet_chains(port)
    for port in plan.ports:
        out += _bridge_port(port)
    return out


def prefix_set(name: str) -> str:
    """The interval set holding the prefixes of the plan's set ``name``."""
    return name + "_n"


def _shared(plan: FirewallPlan) -> dict[str, PortFilter]:
    """One port per distinct rule list: the shared chains to render."""
    return plan.rule_ports


def changes(
    old: FirewallPlan, new: FirewallPlan, elements: dict[str, frozenset[str]]
) -> list[Json]:
    """Commands that turn tables holding ``old`` into ``new`` in one
    transaction, touching only what differs: a port's chains and dispatch
    elements, a set, the zone rule, the fingerprint. ``elements`` holds the
    kernel's elements of the sets both plans have. Both plans non-empty."""
    out: list[Json] = []
    old_sets = {s.name: s for s in old.sets}
    new_sets = {s.name: s for s in new.sets}
    for s in new.sets:
        if s.name not in old_sets:
            out += _add_set(s)
        else:
            have = elements.get(s.name, frozenset())
            if have is not s.elements:
                out += element_changes(s.name, s.elements - have, have - s.elements)
    old_shared, new_shared = _shared(old), _shared(new)
    for digest, port in new_shared.items():
        if digest not in old_shared:
            out += _inet_chains(port)
    # Only the filters that are not the same objects in both plans can differ.
    gone, came = new.changed_ports(old)
    before, after = old.by_port, new.by_port
    for port in gone:
        now = after.get(port.port_id)
        if now is None or (now.index, now.ifname) != (port.index, port.ifname):
            out += _dispatch(port, "delete")
            out += _meter(port, "delete")
            out += _untracked(port, "delete")
            out.append(_chain_command("flush", "bridge", f"s{port.index}"))
            out.append(_chain_command("delete", "bridge", f"s{port.index}"))
    for port in came:
        was = before.get(port.port_id)
        if was is None or (was.index, was.ifname) != (port.index, port.ifname):
            out += _bridge_port(port)
        elif was != port:
            if (was.mac, was.pairs) != (port.mac, port.pairs):
                out.append(_chain_command("flush", "bridge", f"s{port.index}"))
                out += _anti_spoofing_rules(port)
            if was.rules_digest != port.rules_digest:
                out += _rule_dispatch(was, "delete")
                out += _rule_dispatch(port, "add")
            if (was.stateless, was.mac) != (port.stateless, port.mac):
                out += _untracked(was, "delete")
                out += _untracked(port, "add")
    for digest in old_shared.keys() - new_shared.keys():
        for name in (f"e_{digest}", f"i_{digest}"):
            out.append(_chain_command("flush", "inet", name))
            out.append(_chain_command("delete", "inet", name))
    for s in old.sets:
        if s.name not in new_sets:
            for name in (s.name, prefix_set(s.name)):
                out.append({"delete": {"set": {"family": "inet", "table": TABLE, "name": name}}})
    if old.zones != new.zones:
        out.append(_chain_command("flush", "inet", "pre"))
        out += _pre_rules(new)
    old_fp = FIREWALL_FINGERPRINT + old.structure()
    new_fp = FIREWALL_FINGERPRINT + new.structure()
    if old_fp != new_fp:
        for family in ("bridge", "inet"):
            out.append({"delete": {"set": {"family": family, "table": TABLE, "name": old_fp}}})
            out.append(_add("set", family, name=new_fp, type="ipv4_addr"))
    return out


def _chain_command(verb: str, family: str, name: str) -> Json:
    return {verb: {"chain": {"family": family, "table": TABLE, "name": name}}}


def _bridge(plan: FirewallPlan) -> list[Json]:
    fam = "bridge"
    out: list[Json] = [
        _add(
            "chain", fam, name="forward", type="filter", hook="forward", prio=-200, policy="accept"
        ),
        _add("map", fam, name=IN_MAP, type="ifname", map="verdict"),
        _add("map", fam, name=OUT_MAP, type="ifname", map="mark"),
        # A frame to an unfiltered port finds no element: the lookup ends
        # that rule and the mark stays 0.
        _rule(fam, "forward", _set_mark(0)),
        _rule(fam, "forward", _set_mark({"map": {"key": _meta("oifname"), "data": "@" + OUT_MAP}})),
        _rule(fam, "forward", {"vmap": {"key": _meta("iifname"), "data": "@" + IN_MAP}}),
        _add("set", fam, name=TX_SET, type="mark", stmt=[{"counter": None}]),
        _add("set", fam, name=RX_SET, type="mark", stmt=[{"counter": None}]),
        _rule(fam, "forward", _count_in(HIGH_HALF, TX_SET)),
        _rule(fam, "forward", _count_in(LOW_HALF, RX_SET)),
        _add("chain", fam, name="raw", type="filter", hook="prerouting", prio=-300,
             policy="accept"),
        _add("set", fam, name=STATELESS_IF, type="ifname"),
        _add("set", fam, name=STATELESS_MAC, type="ether_addr"),
        _rule(fam, "raw", _match(_meta("iifname"), "@" + STATELESS_IF), {"notrack": None}),
        _rule(fam, "raw", _match(_payload("ether", "daddr"), "@" + STATELESS_MAC),
              {"notrack": None}),
    ]  # fmt: skip
    return out


def _untracked(port: PortFilter, verb: str) -> list[Json]:
    """A stateless port's elements in the ``raw`` chain's sets (none for others)."""
    if not port.stateless:
        return []
    return [
        {verb: {"element": {"family": "bridge", "table": TABLE, "name": name, "elem": [key]}}}
        for name, key in ((STATELESS_IF, port.ifname), (STATELESS_MAC, port.mac))
    ]


def _count_in(half: int, counter_set: str) -> Json:
    """Count the frame in the element of ``counter_set`` that is its mark's
    ``half`` (none: the rule ends, nothing counted)."""
    return _match({"&": [_meta("mark"), half]}, "@" + counter_set)


def counter_names(index: int) -> tuple[str, str]:
    """(sent, received) counter names of the port with this index."""
    return f"tx{index}", f"rx{index}"


def _meter(port: PortFilter, verb: str) -> list[Json]:
    """A port's elements in the two counting sets."""
    return [
        {verb: {"element": {"family": "bridge", "table": TABLE, "name": name, "elem": [key]}}}
        for name, key in ((TX_SET, port.index << 16), (RX_SET, port.index))
    ]


def port_counters(listed: list[Json]) -> list[Json]:
    """The counting sets as ``nft -j list set`` gives them → one entry per
    port and direction: ``family``, ``table``, ``name`` (``tx<i>`` or
    ``rx<i>``, ``counter_names``), ``packets``, ``bytes``."""
    out: list[Json] = []
    for body in listed:
        name = body.get("name")
        if name not in (TX_SET, RX_SET):
            continue
        for item in body.get("elem", []):
            elem = item.get("elem", {}) if isinstance(item, dict) else {}
            key = int(elem.get("val", item) if elem else item)
            counts = elem.get("counter") or {}
            index = key >> 16 if name == TX_SET else key
            out.append(
                {
                    "family": "bridge",
                    "table": TABLE,
                    "name": counter_names(index)[0 if name == TX_SET else 1],
                    "packets": int(counts.get("packets", 0)),
                    "bytes": int(counts.get("bytes", 0)),
                }
            )
    return out


def _bridge_port(port: PortFilter) -> list[Json]:
    """A port's anti-spoofing chain, its rules and the port's dispatch elements."""
    out = [_add("chain", "bridge", name=f"s{port.index}")]
    out += _anti_spoofing_rules(port)
    out += _dispatch(port, "add")
    out += _meter(port, "add")
    out += _untracked(port, "add")
    return out


def _anti_spoofing_rules(port: PortFilter) -> list[Json]:
    return [_rule("bridge", f"s{port.index}", *e) for e in anti_spoofing(port)]


def _elem(verb: str, family: str, name: str, key: Any, value: Any) -> Json:
    item: Any = [key, value] if verb == "add" else key
    return {verb: {"element": {"family": family, "table": TABLE, "name": name, "elem": [item]}}}


def _dispatch(port: PortFilter, verb: str) -> list[Json]:
    """The four map elements that mark a port's packets and send them to
    its chains."""
    return [
        _elem(verb, "bridge", OUT_MAP, port.ifname, port.index),
        _elem(verb, "bridge", IN_MAP, port.ifname, _jump(f"s{port.index}")),
        *_rule_dispatch(port, verb),
    ]


def _rule_dispatch(port: PortFilter, verb: str) -> list[Json]:
    """The elements that send a port's marked packets to its rules' chains."""
    digest = port.rules_digest
    return [
        _elem(verb, "inet", EGRESS_MAP, port.index << 16, _jump(f"e_{digest}")),
        _elem(verb, "inet", INGRESS_MAP, port.index, _jump(f"i_{digest}")),
    ]


def anti_spoofing(port: PortFilter) -> list[list[Json]]:
    """The rules of a port's anti-spoofing chain, each a list of expressions."""
    ip, ip6, arp = (_match(_payload("ether", "type"), t) for t in ("ip", "ip6", "arp"))
    own_mac = _match(_payload("ether", "saddr"), port.mac)
    rules: list[list[Json]] = [
        [_set_mark({"|": [_meta("mark"), port.index << 16]})],
        [ip, _match(_payload("udp", "sport"), 67), DROP],
        [ip6, _match(_payload("udp", "sport"), 547), DROP],
        # one rule per type: an anonymous set per port would be read into
        # libnftables' cache before every transaction
        [ip6, _match(_payload("icmpv6", "type"), 134), DROP],
        [ip6, _match(_payload("icmpv6", "type"), 137), DROP],
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
    out: list[Json] = [c for s in plan.sets for c in _add_set(s)]
    out.append(
        _add("chain", fam, name="pre", type="filter", hook="prerouting", prio=-300, policy="accept")
    )
    out.append(
        _add("chain", fam, name="forward", type="filter", hook="forward", prio=0, policy="accept")
    )
    out.append(
        _add("chain", fam, name="out", type="filter", hook="output", prio=-300, policy="accept")
    )
    out.append(_add("map", fam, name=EGRESS_MAP, type="mark", map="verdict"))
    out.append(_add("map", fam, name=INGRESS_MAP, type="mark", map="verdict"))
    out.append(_untracked_tunnel("out"))
    out += _pre_rules(plan)
    established = _match({"ct": {"key": "state"}}, ["established", "related"], "in")
    out.append(_rule(fam, "forward", established, ACCEPT))
    high = {"&": [_meta("mark"), HIGH_HALF]}
    low = {"&": [_meta("mark"), LOW_HALF]}
    out.append(_rule(fam, "forward", {"vmap": {"key": high, "data": "@" + EGRESS_MAP}}))
    out.append(_rule(fam, "forward", {"vmap": {"key": low, "data": "@" + INGRESS_MAP}}))
    return out


def _untracked_tunnel(chain: str) -> Json:
    """The host's own tunnel packets need no connection state (br_netfilter
    would otherwise track every encapsulated packet twice)."""
    tunnel = _match(_payload("udp", "dport"), VXLAN_PORT)
    return _rule("inet", chain, _match(_meta("l4proto"), 17), tunnel, {"notrack": None})


def _pre_rules(plan: FirewallPlan) -> list[Json]:
    """The prerouting chain's rules: untracked tunnel packets, packets left
    untracked (stateless ports), then each network bridge's conntrack zone."""
    fam = "inet"
    out = [_untracked_tunnel("pre")]
    # a stateless port's frames, untracked by the bridge's raw chain: setting
    # a zone would give them a conntrack template again
    untracked = _match({"ct": {"key": "state"}}, "untracked", "in")
    out.append(_rule(fam, "pre", untracked, ACCEPT))
    if plan.zones:
        zones = [[bridge, zone] for bridge, zone in plan.zones]
        zone_map = {"map": {"key": _meta("iifname"), "data": {"set": zones}}}
        out.append(
            _rule(fam, "pre", {"mangle": {"key": {"ct": {"key": "zone"}}, "value": zone_map}})
        )
    return out


def _split(elements: frozenset[str]) -> tuple[list[Any], list[Any]]:
    """A set's elements as nft values: (single addresses, prefixes), sorted."""
    hosts: list[Any] = []
    prefixes: list[Any] = []
    for e in sorted(elements):
        value = address(e)
        (hosts if isinstance(value, str) else prefixes).append(value)
    return hosts, prefixes


def _add_set(s: AddressSet) -> list[Json]:
    """A remote group's two sets: its addresses (hash) and prefixes (interval)."""
    kind = "ipv4_addr" if s.family == 4 else "ipv6_addr"
    hosts, prefixes = _split(s.elements)
    single: Json = {"name": s.name, "type": kind}
    ranges: Json = {"name": prefix_set(s.name), "type": kind, "flags": ["interval"]}
    if hosts:
        single["elem"] = hosts
    if prefixes:
        ranges["elem"] = prefixes
    return [_add("set", "inet", **single), _add("set", "inet", **ranges)]


def _inet_chains(port: PortFilter) -> list[Json]:
    """The egress and ingress chains of ``port``'s rules (shared by every
    port with the same rules), with their rules."""
    egress, ingress = f"e_{port.rules_digest}", f"i_{port.rules_digest}"
    out = [_add("chain", "inet", name=egress), _add("chain", "inet", name=ingress)]
    out += [_rule("inet", egress, *e) for e in port_chain(port, "egress")]
    out += [_rule("inet", ingress, *e) for e in port_chain(port, "ingress")]
    return out


def port_chain(port: PortFilter, direction: str) -> list[list[Json]]:
    """The rules of a port's egress or ingress chain (they depend on
    ``port.rules`` only)."""
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
            rules += [[*match, verdict] for match in rule_matches(rule)]
    rules.append([DROP])
    return rules


def rule_matches(rule: FirewallRule) -> list[list[Json]]:
    """The match expressions of one security group rule: one list, or one
    per set of a remote group (its addresses, its prefixes)."""
    if rule.remote is not None and rule.remote.startswith("@"):
        remotes = [rule.remote, "@" + prefix_set(rule.remote[1:])]
        return [rule_match(rule, remote) for remote in remotes]
    return [rule_match(rule, rule.remote)]


def rule_match(rule: FirewallRule, remote: str | None) -> list[Json]:
    """The match expressions of one security group rule, with ``remote``
    (a CIDR or ``@set``) for the rule's remote."""
    ip = "ip" if rule.family == 4 else "ip6"
    out = [_match(_meta("nfproto"), "ipv4" if rule.family == 4 else "ipv6")]
    if remote is not None:
        field = "saddr" if rule.direction == "ingress" else "daddr"
        value = remote if remote.startswith("@") else address(remote)
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
    """Commands that bring one remote group's elements up to date in place
    (addresses in set ``name``, prefixes in its ``prefix_set``)."""
    out: list[Json] = []
    for verb, elements in (("delete", remove), ("add", add)):
        if not elements:
            continue
        for target, values in zip((name, prefix_set(name)), _split(elements), strict=True):
            if values:
                body = {"name": target, "elem": values}
                out.append({verb: {"element": {"family": "inet", "table": TABLE, **body}}})
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
