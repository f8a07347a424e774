"""Filter, weigh, pick: ``place(pools, request)``; ``place_pair`` for a
replicated volume (a primary, then a replica on another host)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from kumo.volume.scheduler.filters import FILTERS, Filter
from kumo.volume.scheduler.model import (
    NoValidPool,
    PairPlacement,
    Placement,
    PoolState,
    Request,
)
from kumo.volume.scheduler.weighers import WEIGHERS, Weigher


def _normalised(values: list[float]) -> list[float]:
    low, high = min(values), max(values)
    if high == low:
        return [0.0 for _ in values]
    return [(v - low) / (high - low) for v in values]


def place(
    pools: Sequence[PoolState],
    request: Request,
    weighers: Sequence[Weigher] = (WEIGHERS["CapacityWeigher"],),
    filters: Sequence[Filter] = FILTERS,
) -> Placement | NoValidPool:
    ordered = sorted(pools, key=lambda p: (p.host, p.pool))
    passed: list[PoolState] = []
    reasons: list[tuple[str, str]] = []
    for pool in ordered:
        why = next((r for f in filters if (r := f(pool, request)) is not None), None)
        if why is None:
            passed.append(pool)
        else:
            reasons.append((pool.name, why))
    if not passed:
        return NoValidPool(tuple(reasons))
    totals = [0.0] * len(passed)
    for weigher in weighers:
        scores = _normalised([weigher.score(p, request) for p in passed])
        for i, score in enumerate(scores):
            totals[i] += weigher.multiplier * score
    best = max(range(len(passed)), key=lambda i: (totals[i], -i))
    return Placement(passed[best].host, passed[best].pool, totals[best])


def place_pair(
    pools: Sequence[PoolState],
    request: Request,
    weighers: Sequence[Weigher] = (WEIGHERS["CapacityWeigher"],),
    filters: Sequence[Filter] = FILTERS,
) -> PairPlacement | NoValidPool:
    """The primary as ``place`` picks it; the replica by the same filters and
    weighers among the pools of every other storage host (never pinned to a
    source's pool: it starts blank and the mirror fills it)."""
    primary = place(pools, request, weighers, filters)
    if isinstance(primary, NoValidPool):
        return primary
    others = [p for p in pools if p.host != primary.host]
    replica = place(others, replace(request, pool=None, host=None), weighers, filters)
    if isinstance(replica, NoValidPool):
        same = tuple(
            (p.name, "it is on the primary's storage host")
            for p in sorted(pools, key=lambda p: (p.host, p.pool))
            if p.host == primary.host
        )
        return NoValidPool(same + replica.reasons, replica=True)
    return PairPlacement(primary, replica)
