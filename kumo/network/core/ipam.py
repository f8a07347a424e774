"""IP address management: pools, gateway, EUI-64, first-free allocation.

A search for a free address takes a row lock on the subnet (PostgreSQL;
SQLite serialises writers already), so concurrent port creations on one
subnet queue for a few milliseconds instead of racing; the unique
(subnet_id, ip_address) key stays as the last line of defence.

A caller that writes the allocation itself (``claim``) first tries,
without the lock, the address after the one this process gave out last:
the unique key settles that race (a claim of an address another
transaction has just written waits for it, then finds it taken), and
only then does the locked search run.
"""

from __future__ import annotations

import functools
import ipaddress
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol, cast

from sqlalchemy import Select, Table, bindparam, select
from sqlalchemy.orm import Session

from kumo.db.network_models import IPAllocation, Subnet
from kumo.errors import Conflict, InvalidInput

Net = ipaddress.IPv4Network | ipaddress.IPv6Network
# Address comparisons mix the two concrete classes only after a version check.
Addr = Any
AUTO_ADDRESS_MODES = ("slaac", "dhcpv6-stateless")
_SUBNETS = cast(Table, Subnet.__table__)
_ALLOCATIONS = cast(Table, IPAllocation.__table__)
# Built once: SQLAlchemy reuses their compiled form on every allocation.
_LOCK_SUBNET = (
    select(_SUBNETS.c.id).where(_SUBNETS.c.id == bindparam("s")).with_for_update(key_share=True)
)


class SubnetFields(Protocol):
    """What allocation reads of a subnet: a Subnet, or a row of these columns."""

    @property
    def id(self) -> str: ...
    @property
    def network_id(self) -> str: ...
    @property
    def ip_version(self) -> int: ...
    @property
    def cidr(self) -> str: ...
    @property
    def gateway_ip(self) -> str | None: ...
    @property
    def ipv6_address_mode(self) -> str | None: ...
    @property
    def allocation_pools(self) -> list[Any]: ...
    @property
    def enable_dhcp(self) -> bool: ...
    @property
    def service_types(self) -> list[Any] | None: ...


def first_host(net: Net) -> Addr:
    return net.network_address + 1


def last_host(net: Net) -> Addr:
    if net.version == 4:
        return net.broadcast_address - 1 if net.prefixlen < 31 else net.broadcast_address
    return net.broadcast_address


def usable(net: Net, addr: Addr) -> bool:
    """Not the network address, not the IPv4 broadcast address."""
    if addr not in net:
        return False
    if net.version == 4 and net.prefixlen < 31:
        return addr not in (net.network_address, net.broadcast_address)
    return bool(addr != net.network_address)


def default_pools(net: Net, gateway: Addr | None) -> list[dict[str, str]]:
    start, end = first_host(net), last_host(net)
    if int(end) < int(start):
        return []
    pools = []
    if gateway is not None and start <= gateway <= end:
        if gateway > start:
            pools.append((start, gateway - 1))
        if gateway < end:
            pools.append((gateway + 1, end))
    else:
        pools.append((start, end))
    return [{"start": str(a), "end": str(b)} for a, b in pools]


def parse_pools(raw: Any, net: Net, gateway: Addr | None) -> list[dict[str, str]]:
    if not isinstance(raw, list):
        raise InvalidInput(f"Invalid data format for IP pool: '{raw}'")
    ranges: list[tuple[Addr, Addr]] = []
    for pool in raw:
        if not isinstance(pool, dict) or set(pool) != {"start", "end"}:
            raise InvalidInput(f"Invalid data format for IP pool: '{pool}'")
        try:
            start: Addr = ipaddress.ip_address(pool["start"])
            end: Addr = ipaddress.ip_address(pool["end"])
        except (ValueError, TypeError) as exc:
            raise InvalidInput(f"Invalid data format for IP pool: '{pool}'") from exc
        if start.version != net.version or end.version != net.version:
            raise InvalidInput(f"Invalid data format for IP pool: '{pool}'")
        if start > end:
            raise InvalidInput(f"Invalid allocation pool {pool['start']}-{pool['end']}")
        if not (usable(net, start) and usable(net, end)):
            raise InvalidInput(
                f"The allocation pool {start}-{end} spans beyond the subnet cidr {net}.",
                kind="OutOfBoundsAllocationPool",
            )
        ranges.append((start, end))
    ranges.sort()
    for (a0, a1), (b0, _b1) in zip(ranges, ranges[1:], strict=False):
        if b0 <= a1:
            raise InvalidInput(
                f"Found overlapping allocation pools: {a0}-{a1} and {b0}-{_b1} for subnet {net}.",
                kind="OverlappingAllocationPools",
            )
    if gateway is not None:
        for start, end in ranges:
            if start <= gateway <= end:
                raise Conflict(
                    f"Gateway ip {gateway} conflicts with allocation pool {start}-{end}.",
                    kind="GatewayConflictWithAllocationPools",
                )
    return [{"start": str(a), "end": str(b)} for a, b in ranges]


def eui64(net: Net, mac: str) -> str:
    octets = [int(x, 16) for x in mac.split(":")]
    octets[0] ^= 0x02
    iid = octets[:3] + [0xFF, 0xFE] + octets[3:]
    value = int(net.network_address) | int.from_bytes(bytes(iid), "big")
    return str(ipaddress.IPv6Address(value))


def is_auto_address(sub: SubnetFields) -> bool:
    return sub.ip_version == 6 and sub.ipv6_address_mode in AUTO_ADDRESS_MODES


def lock_subnet(session: Session, subnet_id: str) -> None:
    """Serialise allocations on the subnet until the transaction ends.

    FOR NO KEY UPDATE: it does not conflict with the key-share lock an
    allocation's foreign key takes on the subnet, so a search never waits
    for (nor deadlocks with) a claim made without the lock.

    SQLite writers already run one at a time (BEGIN IMMEDIATE), and it has
    no row locks: no statement is needed there.
    """
    if session.get_bind().dialect.name == "sqlite":
        return
    session.connection().execute(_LOCK_SUBNET, {"s": subnet_id})


# Where the last allocation of each subnet ended, per process: the next
# search starts there instead of at the pool's start. Only a hint; the
# database decides what is free.
_HINTS: dict[str, int] = {}
_HINTS_LOCK = threading.Lock()
_BATCH = 64
_FIRST_BATCH = 4
"""The address after the previous allocation is usually free: look at a few first."""


@functools.cache
def _used_query(count: int) -> Select[Any]:
    """Which of ``count`` addresses (``a0``...) of subnet ``s`` are allocated.

    One statement per batch size, built once: an expanding IN would be
    rendered again on every execution.
    """
    return select(_ALLOCATIONS.c.ip_address).where(
        _ALLOCATIONS.c.subnet_id == bindparam("s"),
        _ALLOCATIONS.c.ip_address.in_([bindparam(f"a{i}") for i in range(count)]),
    )


def _candidates(pools: list[tuple[int, int]], start: int) -> Iterator[int]:
    """Every pool address once, beginning at ``start`` and wrapping around."""
    ordered = sorted(pools)
    for lo, hi in ordered:
        if hi >= start:
            yield from range(max(lo, start), hi + 1)
    for lo, hi in ordered:
        if lo < start:
            yield from range(lo, min(hi, start - 1) + 1)


def next_free(
    session: Session, sub: SubnetFields, claim: Callable[[str], bool] | None = None
) -> str:
    """A free address of the subnet's pools, or IpAddressGenerationFailure.

    Candidates are checked against the database in batches (a small one,
    then 64 at a time), starting after the previous allocation, so the cost
    does not grow with the number of addresses already in use.

    ``claim``, when given, writes the allocation of an address unless it is
    taken, and says whether it wrote it. The address after the previous
    allocation (nearly always free) is then claimed at once, without the
    subnet's lock: one statement instead of a lock, a check and an insert.
    What the search finds is claimed too (taken meanwhile: it looks on).
    """
    # Addresses given to ports earlier in this transaction but not yet
    # written count as used: write them first (nothing to do when clean).
    session.flush()
    pools = [
        (int(ipaddress.ip_address(p["start"])), int(ipaddress.ip_address(p["end"])))
        for p in sub.allocation_pools or []
    ]
    if not pools:
        raise _exhausted(sub)
    version = sub.ip_version
    if claim is not None:
        first = _reserve(sub.id, pools)
        if first is not None and claim(_text(first, version)):
            return _text(first, version)
    lock_subnet(session, sub.id)
    start = _HINTS.get(sub.id, min(lo for lo, _ in pools))
    batch: list[int] = []
    size = _FIRST_BATCH
    for candidate in _candidates(pools, start):
        batch.append(candidate)
        if len(batch) == size:
            found = _take_first(session, sub.id, batch, version, claim)
            if found is not None:
                return found
            batch = []
            size = _BATCH
    if batch:
        found = _take_first(session, sub.id, batch, version, claim)
        if found is not None:
            return found
    raise _exhausted(sub)


def _reserve(subnet_id: str, pools: list[tuple[int, int]]) -> int | None:
    """The address after this process's previous allocation; moves the hint
    past it, so that concurrent callers here each try a different one."""
    with _HINTS_LOCK:
        start = _HINTS.get(subnet_id, min(lo for lo, _ in pools))
        candidate = next(_candidates(pools, start), None)
        if candidate is not None:
            _HINTS[subnet_id] = candidate + 1
        return candidate


def _text(n: int, version: int) -> str:
    return str(ipaddress.IPv4Address(n) if version == 4 else ipaddress.IPv6Address(n))


def _take_first(
    session: Session,
    subnet_id: str,
    batch: list[int],
    version: int,
    claim: Callable[[str], bool] | None,
) -> str | None:
    """The first address of ``batch`` not allocated (and, with ``claim``, claimed)."""
    texts = [_text(n, version) for n in batch]
    params = {f"a{i}": t for i, t in enumerate(texts)}
    params["s"] = subnet_id
    used = set(session.connection().execute(_used_query(len(texts)), params).scalars())
    for n, t in zip(batch, texts, strict=True):
        if t not in used and (claim is None or claim(t)):
            _HINTS[subnet_id] = n + 1
            return t
    return None


def _exhausted(sub: SubnetFields) -> Conflict:
    return Conflict(
        f"No more IP addresses available on network {sub.network_id}.",
        kind="IpAddressGenerationFailure",
    )


def check_specific(session: Session, sub: SubnetFields, address: str, *, router_port: bool) -> str:
    net = ipaddress.ip_network(sub.cidr)
    addr = ipaddress.ip_address(address)
    if addr.version != net.version or not usable(net, addr):
        raise InvalidInput(
            f"IP address {address} is not a valid IP for the specified subnet.",
            kind="InvalidIpForSubnet",
        )
    if not router_port and sub.gateway_ip == str(addr):
        raise Conflict(
            f"IP address {address} already allocated in subnet {sub.id}",
            kind="IpAddressAlreadyAllocated",
        )
    lock_subnet(session, sub.id)
    if session.scalar(
        select(IPAllocation.id).where(
            IPAllocation.subnet_id == sub.id, IPAllocation.ip_address == str(addr)
        )
    ):
        raise Conflict(
            f"IP address {address} already allocated in subnet {sub.id}",
            kind="IpAddressAlreadyAllocated",
        )
    return str(addr)


def pool_size(sub: Subnet) -> int:
    """How many addresses the subnet's pools hold."""
    total = 0
    for pool in sub.allocation_pools or []:
        total += (
            int(ipaddress.ip_address(pool["end"])) - int(ipaddress.ip_address(pool["start"])) + 1
        )
    return total
