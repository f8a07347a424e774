"""compile_firewall: the security-group and anti-spoofing part of a host plan.

Pure. For every port bound to the host with port security on, it yields a
``PortFilter``: the (MAC, address) pairs the port may send from and the
allow rules of all its security groups. Rules that name a remote group
refer to an ``AddressSet`` holding the addresses of every port in that group
the cache knows (on any host), so a port joining or leaving a group changes
set elements only, never rules. Rules that name an address group refer to
a set of the CIDRs the API sent with the rule (``a4_<id>``, ``a6_<id>``).

Stateless groups: a port whose groups are stateless gets a filter marked
``stateless``; the data plane leaves its packets untracked, so the rules
alone decide, in both directions (replies need rules of their own).

Conntrack zones: one per network bridge, so that two projects' overlapping
CIDRs on one host never share connection state. The zone is derived from
the network's segment, which is unique per network: the VNI for VXLAN
networks (the VNI range must stay below ``VLAN_ZONE_BASE``), ``VLAN_ZONE_BASE``
plus the VLAN id for VLAN networks, and the top of the zone space for flat
networks (one per physical network, numbered in the host's mapping order).
"""

from __future__ import annotations

import ipaddress
from bisect import bisect_left, insort
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

from kumo.compiler import ipnet, names
from kumo.compiler.firewall_patch import (
    MAX_FILTERED_PORTS,
    FilterState,
    changed_ports,
    index_all,
    member_element,
    members,
    reindex,
)
from kumo.compiler.firewall_patch import (
    home_index as home_index,
)
from kumo.compiler.firewall_patch import (
    port_indices as port_indices,
)
from kumo.compiler.memo import HOSTS_KEPT
from kumo.compiler.model import ClusterView, NetworkView, PortView, RuleView
from kumo.compiler.plan import (
    AddressSet,
    FirewallPlan,
    FirewallRule,
    PortFilter,
    SpoofPair,
)

VLAN_ZONE_BASE = 0xF000
FLAT_ZONE_TOP = 0xFFFF
PORTED_PROTOCOLS = frozenset({6, 17, 33, 132, 136})
ICMP_PROTOCOLS = frozenset({1, 58})


def conntrack_zone(network: NetworkView, physnets: Iterable[str] = ()) -> int:
    """The conntrack zone of a network's bridge (see the module docstring)."""
    seg = network.segmentation_id
    if network.network_type == "vxlan" and seg is not None and 0 < seg < VLAN_ZONE_BASE:
        return seg
    if network.network_type == "vlan" and seg is not None:
        return VLAN_ZONE_BASE + seg
    if network.network_type == "flat":
        order = list(physnets)
        if network.physical_network in order:
            return FLAT_ZONE_TOP - order.index(network.physical_network)
    return FLAT_ZONE_TOP - 64 - (int(names.short_id(network.id)[:6], 16) % 2048)


def compile_firewall(host: str, view: ClusterView, networks: Iterable[str]) -> FirewallPlan:
    """The filters of ``host``'s ports on ``networks``, their address sets
    and the networks' conntrack zones."""
    return compile_filters(host, view, networks)[0]


def compile_filters(
    host: str, view: ClusterView, networks: Iterable[str]
) -> tuple[FirewallPlan, frozenset[str]]:
    """The firewall plan, and the networks of its filtered ports."""
    me = view.hosts.get(host)
    physnets = [p for p, _ in me.bridge_mappings] if me else []
    zone_of = {
        n: conntrack_zone(view.networks[n], physnets) for n in networks if n in view.networks
    }
    state = _STATES.get(host)
    if state is None:
        if len(_STATES) >= HOSTS_KEPT:
            _STATES.clear()
        state = _STATES[host] = FilterState(host)
    try:
        plan = _patch(state, view, zone_of)
    except Exception:
        del _STATES[host]  # never answer from a half-patched state
        raise
    return plan, state.filtered_networks()


_STATES: dict[str, FilterState] = {}
"""Per host, what its last firewall compile worked from (``firewall_patch``)."""


def _patch(state: FilterState, view: ClusterView, zone_of: dict[str, int]) -> FirewallPlan:
    """The firewall plan of ``view``, made again only where it differs from
    the state's last view (from nothing, the first time)."""
    host = state.host
    dirty = changed_ports(state, view)
    if zone_of != state.zone_of:
        nets = {
            n
            for n in zone_of.keys() | state.zone_of.keys()
            if zone_of.get(n) != state.zone_of.get(n)
        }
        dirty.update(p.id for p in state.local.values() if p.network_id in nets)
        by_network = view.local_ports_by_network(host)
        for n in nets:
            dirty.update(p.id for p in by_network.get(n, ()))
        state.zone_of = dict(zone_of)
    for group_id, known in state.groups.items():
        if view.security_groups.get(group_id) is not known:
            dirty |= state.by_group.get(group_id, set())
            state.rules.pop(group_id, None)
    if not dirty and state.plan is not None:
        return state.plan
    joined: set[str] = set()
    left: set[str] = set()
    for port_id in dirty:
        old = state.local.pop(port_id, None)
        if old is not None:
            state.count_network(old.network_id, -1)
            for group_id in old.security_groups:
                members = state.by_group[group_id]
                members.discard(port_id)
                if not members:
                    del state.by_group[group_id]
        new = view.ports.get(port_id)
        if new is not None and _filtered(new, host, zone_of):
            state.local[port_id] = new
            state.count_network(new.network_id, 1)
            for group_id in new.security_groups:
                state.by_group.setdefault(group_id, set()).add(port_id)
        if old is None and port_id in state.local:
            joined.add(port_id)
        elif old is not None and port_id not in state.local:
            left.add(port_id)
    chosen = state.local
    if len(chosen) > MAX_FILTERED_PORTS:
        chosen = {i: chosen[i] for i in sorted(chosen)[:MAX_FILTERED_PORTS]}
        dirty |= chosen.keys() | (state.filters.keys() - chosen.keys())
        used = {g for p in chosen.values() for g in p.security_groups}
    else:
        used = set(state.by_group)
    if chosen is not state.local:
        dirty |= index_all(state, chosen)
        state.capped = frozenset(p.network_id for p in chosen.values())
        state.wrapped = True  # indexed from nothing until the ports fit again
    else:
        state.capped = None
        if joined or left:
            dirty |= reindex(state, joined, left)
    state.groups = {g: view.security_groups.get(g) for g in used}
    state.rules = {g: r for g, r in state.rules.items() if g in used}
    for group_id in used:
        if group_id not in state.rules:
            group = state.groups[group_id]
            state.rules[group_id] = _group_rules(group.rules if group else ())
    gone: list[PortFilter] = []
    came: list[PortFilter] = []
    for port_id in dirty:
        port = chosen.get(port_id)
        was = state.filters.pop(port_id, None)
        made = None
        if port is not None:
            groups = port.security_groups
            if len(groups) == 1:
                rules = state.rules[groups[0]]
            else:
                rules = frozenset().union(*(state.rules[g] for g in groups))
            made = _port_filter(
                state.indices[port_id],
                port,
                zone_of[port.network_id],
                rules,
                _stateless(view, groups),
            )
            state.filters[port_id] = made
        if was is not made:
            gone += [was] if was is not None else []
            came += [made] if made is not None else []
    previous = state.plan
    if previous is None or (len(gone) + len(came)) * 8 > len(state.filters):
        filters = tuple(sorted(state.filters.values(), key=_index))
    elif gone or came:
        # The previous filters (in index order) with those that went and came.
        ordered = list(previous.ports)
        for f in gone:
            del ordered[bisect_left(ordered, f.index, key=_index)]
        for f in came:
            insort(ordered, f, key=_index)
        filters = tuple(ordered)
    else:
        filters = previous.ports
    zones = tuple(sorted((names.bridge_name(n), z) for n, z in zone_of.items()))
    sets = _sets(state, sorted(used))
    plan = FirewallPlan(zones=zones, ports=filters, sets=sets)
    if previous is not None and plan == previous:
        plan = previous
    elif previous is not None:
        plan.follows(previous, sorted(gone, key=_index), sorted(came, key=_index))
    state.plan = plan
    return plan


def _index(port: PortFilter) -> int:
    return port.index


def _filtered(port: PortView, host: str, zone_of: Mapping[str, int]) -> bool:
    """Whether a port of the view gets a filter on ``host``."""
    return (
        port.host == host
        and port.port_security
        and _is_instance(port)
        and bool(port.mac)
        and port.network_id in zone_of
    )


def _sets(state: FilterState, group_ids: Iterable[str]) -> tuple[AddressSet, ...]:
    """The address sets the rules of ``group_ids`` refer to, sorted by name."""
    sets: dict[str, AddressSet] = {}
    for group_id in group_ids:
        group = state.groups[group_id]
        for rule in group.rules if group else ():
            remote, family = rule.remote_group_id, rule.ethertype
            if remote is not None and (name := set_name(remote, family)) not in sets:
                sets[name] = AddressSet(name, family, members(state, remote, family, _set_elements))
            listed = rule.remote_address_group_id
            if listed is not None and (name := list_name(listed, family)) not in sets:
                elements = _set_elements(frozenset(rule.remote_addresses), family)
                sets[name] = AddressSet(name, family, elements)
    return tuple(sorted(sets.values(), key=lambda s: s.name))


def _stateless(view: ClusterView, group_ids: Sequence[str]) -> bool:
    """A port is stateless when its groups are (the API keeps a port's
    groups all stateful or all stateless)."""
    for group_id in group_ids:
        group = view.security_groups.get(group_id)
        if group is not None and not group.stateful:
            return True
    return False


@lru_cache(maxsize=1 << 14)
def _port_filter(
    index: int, port: PortView, zone: int, rules: frozenset[FirewallRule], stateless: bool = False
) -> PortFilter:
    """One port's filter (memoized: most ports are the same every compile)."""
    return PortFilter(
        index=index,
        port_id=port.id,
        ifname=names.tap_name(port.id),
        mac=port.mac,
        zone=zone,
        pairs=spoof_pairs(port),
        rules=tuple(sorted(rules, key=_rule_order)),
        stateless=stateless,
    )


def _is_instance(port: PortView) -> bool:
    """Instance and VM ports, and trunk subports (their device in the
    bridge bears the same name)."""
    if port.trunk is not None:
        return True
    return port.device_owner == "" or port.device_owner.startswith("compute:")


@lru_cache(maxsize=1 << 14)
def spoof_pairs(port: PortView) -> tuple[SpoofPair, ...]:
    pairs: set[SpoofPair] = set()
    for ip in port.ip_addresses:
        cidr = _cidr(ip)
        if cidr is not None:
            pairs.add(SpoofPair(port.mac, cidr))
    pairs.add(SpoofPair(port.mac, link_local(port.mac)))
    for pair in port.address_pairs:
        cidr = _cidr(pair.ip_address)
        if cidr is not None:
            pairs.add(SpoofPair(pair.mac_address, cidr))
    return tuple(sorted(pairs))


@lru_cache(maxsize=1 << 16)
def link_local(mac: str) -> str:
    """The EUI-64 IPv6 link-local address of a MAC, as a /128."""
    octets = [int(x, 16) for x in mac.split(":")]
    octets[0] ^= 0x02
    eui = octets[:3] + [0xFF, 0xFE] + octets[3:]
    iid = int.from_bytes(bytes(eui), "big")
    return f"{ipaddress.IPv6Address((0xFE80 << 112) | iid)}/128"


def set_name(group_id: str, family: int) -> str:
    return f"g{family}_{group_id}"


def list_name(address_group_id: str, family: int) -> str:
    """The set of an address group's CIDRs of one family."""
    return f"a{family}_{address_group_id}"


@lru_cache(maxsize=1 << 12)
def _group_rules(rules: tuple[RuleView, ...]) -> frozenset[FirewallRule]:
    """A group's rules, compiled (memoized: every port of the group then
    shares the one frozenset, and the per-port memo compares it by identity)."""
    return frozenset(r for r in map(_rule, rules) if r is not None)


def _rule(rule: RuleView) -> FirewallRule | None:
    remote: str | None = None
    if rule.remote_group_id is not None:
        remote = "@" + set_name(rule.remote_group_id, rule.ethertype)
    elif rule.remote_address_group_id is not None:
        remote = "@" + list_name(rule.remote_address_group_id, rule.ethertype)
    elif rule.remote_ip_prefix is not None:
        try:
            net = ipnet.ip_network(rule.remote_ip_prefix)
        except ValueError:
            return None
        if net.version != rule.ethertype:
            return None
        remote = None if net.prefixlen == 0 else str(net)
    protocol = rule.protocol
    port_min = port_max = icmp_type = icmp_code = None
    if protocol in PORTED_PROTOCOLS and rule.port_range_min is not None:
        port_min = rule.port_range_min
        port_max = rule.port_range_max if rule.port_range_max is not None else port_min
        if (port_min, port_max) == (1, 65535):
            port_min = port_max = None
    elif protocol in ICMP_PROTOCOLS and rule.port_range_min is not None:
        icmp_type = rule.port_range_min
        icmp_code = rule.port_range_max
    return FirewallRule(
        direction="ingress" if rule.direction == "ingress" else "egress",
        family=rule.ethertype,
        protocol=protocol,
        port_min=port_min,
        port_max=port_max,
        icmp_type=icmp_type,
        icmp_code=icmp_code,
        remote=remote,
    )


@lru_cache(maxsize=256)
def _set_elements(raws: frozenset[str], family: int) -> frozenset[str]:
    """A remote group's addresses of one family as interval-set elements."""
    found = [e for raw in raws if (e := member_element(raw)) is not None and e[0] == family]
    if all(single for _, _, single in found):
        # Single addresses only (the usual case): nothing can overlap, and a
        # member joining costs one lookup per address, not a re-sort.
        return frozenset(element for _, element, _ in found)
    nets = [ipnet.ip_network(element) for _, element, _ in found]
    # Interval sets refuse overlapping elements: keep each network unless a
    # wider one already covers it (adjacent ones stay apart, so one port's
    # addresses stay one element each).
    # Networks come shortest prefix first, so a covering one is already kept:
    # look each up at the few prefix lengths kept so far (not pairwise, which
    # cost half a million comparisons for a group of 1,000 ports).
    kept: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    kept_set: set[ipaddress.IPv4Network | ipaddress.IPv6Network] = set()
    prefixes: list[int] = []
    for net in sorted(set(nets), key=lambda x: (x.prefixlen, x.network_address)):
        if any(net.supernet(new_prefix=p) in kept_set for p in prefixes if p < net.prefixlen):
            continue
        kept.append(net)
        kept_set.add(net)
        if net.prefixlen not in prefixes:
            prefixes.append(net.prefixlen)
    return frozenset(
        str(n.network_address) if n.prefixlen == n.max_prefixlen else str(n) for n in kept
    )


@lru_cache(maxsize=1 << 16)
def _cidr(raw: str) -> str | None:
    try:
        return str(ipnet.ip_network(raw))
    except ValueError:
        return None


def _rule_order(rule: FirewallRule) -> tuple[object, ...]:
    return (
        rule.direction,
        rule.family,
        rule.protocol if rule.protocol is not None else -1,
        rule.port_min or 0,
        rule.port_max or 0,
        rule.icmp_type if rule.icmp_type is not None else -1,
        rule.icmp_code if rule.icmp_code is not None else -1,
        rule.remote or "",
    )
