"""Prefix arithmetic of subnet pools (pure): normalising a pool's prefixes,
what is still free, and carving a prefix of a given length out of it.

Allocation is best fit: the smallest free block that holds the requested
length gives its first (lowest) prefix, so large free blocks stay whole for
later requests of larger subnets.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from kumo.errors import InvalidInput, shown

Net = ipaddress.IPv4Network | ipaddress.IPv6Network
BITS = {4: 32, 6: 128}
MIN_PREFIXLEN = {4: 8, 6: 64}
"""The default min_prefixlen of a new pool, per IP version."""


def parse(raw: Any, field: str = "prefixes") -> list[Net]:
    """A list of CIDRs (host bits allowed, as Neutron normalises them)."""
    if not isinstance(raw, list):
        raise InvalidInput(f"Invalid input for {field}. Reason: '{shown(raw)}' is not a list.")
    out: list[Net] = []
    for item in raw:
        try:
            if not isinstance(item, str) or "/" not in item:
                raise ValueError(item)
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise InvalidInput(
                f"Invalid input for {field}. Reason: '{shown(item)}' is not a valid IP subnet."
            ) from None
    return out


def version_of(nets: Iterable[Net]) -> int | None:
    versions = {n.version for n in nets}
    if len(versions) > 1:
        raise InvalidInput(
            "Cannot mix IPv4 and IPv6 prefixes in a subnet pool.", kind="PrefixVersionMismatch"
        )
    return versions.pop() if versions else None


def merged(nets: Iterable[Net]) -> list[Net]:
    """Adjacent and contained prefixes merged, sorted (one version only)."""
    items = list(nets)
    if not items:
        return []
    return sorted(ipaddress.collapse_addresses(items))  # type: ignore[type-var]


def texts(nets: Iterable[Net]) -> list[str]:
    return [str(n) for n in nets]


def nets(raw: Iterable[str]) -> list[Net]:
    return [ipaddress.ip_network(x) for x in raw]


def free(pool: Iterable[Net], used: Iterable[Net]) -> list[Net]:
    """The pool's prefixes without the used ones: the free blocks, sorted."""
    blocks = merged(pool)
    for taken in used:
        nxt: list[Net] = []
        for block in blocks:
            if block.version != taken.version or not block.overlaps(taken):
                nxt.append(block)
            elif block.subnet_of(taken):  # type: ignore[arg-type]
                continue
            else:
                nxt.extend(block.address_exclude(taken))  # type: ignore[arg-type]
        blocks = nxt
    return sorted(blocks)


def allocate(pool: Iterable[Net], used: Iterable[Net], prefixlen: int) -> Net | None:
    """The first prefix of length ``prefixlen`` of the smallest free block
    that holds one; None when none does."""
    fits = [b for b in free(pool, used) if b.prefixlen <= prefixlen]
    if not fits:
        return None
    best = min(fits, key=lambda b: (-b.prefixlen, int(b.network_address)))
    # the block's first prefix of that length starts where the block starts
    return ipaddress.ip_network((best.network_address, prefixlen))


def within(pool: Iterable[Net], used: Iterable[Net], wanted: Net) -> bool:
    """Whether ``wanted`` lies whole inside one free block of the pool."""
    return any(
        b.version == wanted.version and wanted.subnet_of(b)  # type: ignore[arg-type]
        for b in free(pool, used)
    )


def size(net: Net) -> int:
    """What a prefix counts against a pool's default_quota: addresses for
    IPv4, /64 networks for IPv6."""
    if net.version == 4:
        return int(net.num_addresses)
    return 1 << max(0, 64 - net.prefixlen)


def overlapping(a: Iterable[Net], b: Iterable[Net]) -> list[tuple[Net, Net]]:
    bs = list(b)
    return [(x, y) for x in a for y in bs if x.version == y.version and x.overlaps(y)]
