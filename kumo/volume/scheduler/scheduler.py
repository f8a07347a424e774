"""Filter, weigh, pick: ``place(pools, request)``."""

from __future__ import annotations

from collections.abc import Sequence

from kumo.volume.scheduler.filters import FILTERS, Filter
from kumo.volume.scheduler.model import NoValidPool, Placement, PoolState, Request
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
