"""A host's firewall plan patched from the last one, by what changed.

``compile_firewall`` with 1,000 ports on a host walked every local port
(filter, sort, index, one filter each) and every member of each remote
group, pass after pass, to change one port. ``FilterState`` remembers, per
host, the view's ports it last saw, the filtered ports, their indexes and
filters, and each security group's member addresses (counted, per address);
the next view is compared with it object by object (the agent's cache
keeps every parsed object until it changes: unchanged ports compare by
identity), and only the filters of ports that changed, moved index, or
whose groups or network zones changed are made again, only the sets of
groups whose members changed are recomputed.

The answer is exactly the plan a compile from nothing gives (the state is a
memo of the inputs it was built from: ``tests/agent/test_incremental_replay.py``
compares the two after every random event).
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TypeVar

from kumo.compiler import ipnet
from kumo.compiler.model import ClusterView, PortView, SecurityGroupView
from kumo.compiler.plan import FirewallPlan, FirewallRule, PortFilter

T = TypeVar("T")

MAX_FILTERED_PORTS = 0xFFFF


@dataclass
class FilterState:
    """What the last compile of one host's firewall worked from and made."""

    host: str
    ports: Mapping[str, PortView] = field(default_factory=dict)
    """The view's ports (every host's) the state was last brought up to."""
    zone_of: dict[str, int] = field(default_factory=dict)
    """Network → conntrack zone, of the host's networks."""
    local: dict[str, PortView] = field(default_factory=dict)
    """The host's filtered ports."""
    by_group: dict[str, set[str]] = field(default_factory=dict)
    """Security group → ids of the filtered ports in it."""
    groups: dict[str, SecurityGroupView | None] = field(default_factory=dict)
    """The views of the groups the filtered ports are in, as last compiled."""
    rules: dict[str, frozenset[FirewallRule]] = field(default_factory=dict)
    indices: dict[str, int] = field(default_factory=dict)
    filters: dict[str, PortFilter] = field(default_factory=dict)
    order: list[tuple[int, str]] = field(default_factory=list)
    """(home index, id) of the filtered ports, sorted (see ``port_indices``)."""
    wrapped: bool = False
    """Some port's index wrapped around past the last one."""
    raws: dict[str, dict[str, int]] = field(default_factory=dict)
    """Security group → each address of its members (on any host) → how
    many of its members have it."""
    singles: dict[tuple[str, int], dict[str, int]] = field(default_factory=dict)
    """(group, family) → each single-address element of its members → how
    many addresses make it."""
    wide: dict[tuple[str, int], int] = field(default_factory=dict)
    """(group, family) → how many of its members' addresses are networks."""
    members: dict[tuple[str, int], frozenset[str]] = field(default_factory=dict)
    """(group, family) → its set's elements, while its members stay."""
    networks: dict[str, int] = field(default_factory=dict)
    """Network → how many of the filtered ports are on it."""
    capped: frozenset[str] | None = None
    """The networks of the filtered ports when there are more ports than
    indexes (only the first ``MAX_FILTERED_PORTS`` by id are filtered)."""
    plan: FirewallPlan | None = None

    def count_network(self, network_id: str, step: int) -> None:
        _add(self.networks, network_id, step)

    def filtered_networks(self) -> frozenset[str]:
        """The networks of the ports the plan filters."""
        if self.capped is not None:
            return self.capped
        return frozenset(self.networks)


def member_addresses(port: PortView) -> Iterable[str]:
    """The addresses a port puts in its groups' sets."""
    yield from port.ip_addresses
    for pair in port.address_pairs:
        yield pair.ip_address


def _count(state: FilterState, port: PortView, step: int) -> None:
    groups = port.security_groups
    if not groups:
        return
    # Each address is looked at once, however many groups the port is in.
    elements = [(raw, member_element(raw)) for raw in member_addresses(port)]
    for group_id in groups:
        raws = state.raws.setdefault(group_id, {})
        for raw, element in elements:
            _add(raws, raw, step)
            if element is None:
                continue
            family, value, single = element
            if single:
                singles = state.singles.setdefault((group_id, family), {})
                _add(singles, value, step)
                if not singles:
                    del state.singles[(group_id, family)]
            else:
                _add(state.wide, (group_id, family), step)
        if not raws:
            del state.raws[group_id]
        state.members.pop((group_id, 4), None)
        state.members.pop((group_id, 6), None)


def _add(counts: dict[T, int], key: T, step: int) -> None:
    left = counts.get(key, 0) + step
    if left:
        counts[key] = left
    else:
        del counts[key]


def members(
    state: FilterState,
    group_id: str,
    family: int,
    whole: Callable[[frozenset[str], int], frozenset[str]],
) -> frozenset[str]:
    """A group's set elements of one family: its members' addresses (on
    any host) as ``whole`` makes them from all of them, which for single
    addresses (no networks among them) are the counted elements."""
    known = state.members.get((group_id, family))
    if known is None:
        if state.wide.get((group_id, family)):
            known = whole(frozenset(state.raws.get(group_id, ())), family)
        else:
            known = frozenset(state.singles.get((group_id, family), ()))
        state.members[(group_id, family)] = known
    return known


@lru_cache(maxsize=1 << 16)
def member_element(raw: str) -> tuple[int, str, bool] | None:
    """(family, element, whether it is a single address) of one member
    address, or None when it does not parse."""
    if ipnet.plain_ipv4(raw):
        return 4, raw, True
    try:
        net = ipnet.ip_network(raw)
    except ValueError:
        return None
    single = net.prefixlen == net.max_prefixlen
    return net.version, str(net.network_address) if single else str(net), single


@lru_cache(maxsize=1 << 16)
def home_index(port_id: str, slots: int = MAX_FILTERED_PORTS) -> int:
    """The index a port asks for: a hash of its id in 1..``slots``."""
    digest = hashlib.blake2b(port_id.encode(), digest_size=4).digest()
    return 1 + int.from_bytes(digest, "big") % slots


def port_indices(port_ids: Sequence[str], slots: int = MAX_FILTERED_PORTS) -> dict[str, int]:
    """Each port's index in 1..``slots``: its home index, or the next free
    one after it when taken (open addressing in (home, id) order).

    A port keeps its index while others come and go, so a port joining or
    leaving the host changes only its own chains; only a port whose probe
    ran over a newcomer's home moves (about one port in 65 at 1,000 ports
    per host). Pure and independent of the order of ``port_ids``."""
    taken: set[int] = set()
    out: dict[str, int] = {}
    for home, port_id in sorted((home_index(p, slots), p) for p in set(port_ids)):
        index = home
        while index in taken:
            index = index % slots + 1
        taken.add(index)
        out[port_id] = index
    return out


def reindex(
    state: FilterState,
    joined: Iterable[str],
    left: Iterable[str],
    slots: int = MAX_FILTERED_PORTS,
) -> set[str]:
    """Bring ``state.indices`` (of ``state.local``'s ports) up to date with
    ports that joined and left; the ids of the ports whose index changed.

    Taken in (home, id) order, each index is the home or one past the index
    before (when nothing wrapped around past ``slots``), so only the ports
    from the first change up to where the indices meet the old ones again
    are looked at."""
    joined, left = set(joined), set(left)
    if state.wrapped or not state.order or len(joined) + len(left) > len(state.order) // 8:
        return index_all(state, state.local, slots)
    # Copies: falling back to indexing from nothing compares with the old indexes.
    order, indices = list(state.order), dict(state.indices)
    for port_id in left:
        del order[bisect_left(order, (home_index(port_id, slots), port_id))]
        del indices[port_id]
    for port_id in joined:
        insort(order, (home_index(port_id, slots), port_id))
    at = [bisect_left(order, (home_index(p, slots), p)) for p in joined | left]
    first, last = min(at, default=0), max(at, default=-1)
    previous = indices[order[first - 1][1]] if first > 0 else 0
    moved: set[str] = set()
    for i in range(first, len(order)):
        home, port_id = order[i]
        index = max(home, previous + 1)
        if index > slots:
            return index_all(state, state.local, slots)
        if indices.get(port_id) != index:
            indices[port_id] = index
            moved.add(port_id)
        elif i > last:
            break
        previous = index
    state.order, state.indices = order, indices
    return moved | joined


def index_all(
    state: FilterState, port_ids: Iterable[str], slots: int = MAX_FILTERED_PORTS
) -> set[str]:
    """Index ``port_ids`` from nothing; the ids whose index changed."""
    indices = port_indices(list(port_ids), slots)
    moved = {p for p, index in indices.items() if state.indices.get(p) != index}
    state.indices = indices
    state.order = sorted((home_index(p, slots), p) for p in indices)
    state.wrapped = any(indices[p] < home for home, p in state.order)
    return moved


def changed_ports(state: FilterState, view: ClusterView) -> set[str]:
    """Ids of the ports that came, went or changed since the state's last
    view; brings the member counts up to date with them."""
    before, now = state.ports, view.ports
    if before is now:
        return set()
    hint = view.ports_changed_since(before)
    if hint is not None:  # patched from the state's view: look at what the patch moved
        changed = {k for k in hint if before.get(k) is not now.get(k)}
    else:
        changed = {k for k, v in now.items() if before.get(k) is not v}
        changed.update(before.keys() - now.keys())
    for port_id in changed:
        old, new = before.get(port_id), now.get(port_id)
        if old is not None:
            _count(state, old, -1)
        if new is not None:
            _count(state, new, 1)
    state.ports = now
    return changed
