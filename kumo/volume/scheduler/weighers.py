"""Weighers: a raw score per pool; the scheduler normalises each to 0..1
over the pools that passed and multiplies it by the weigher's multiplier.

- ``CapacityWeigher`` (+1): more free capacity wins; for thin pools the
  virtual free capacity (total times the over-subscription ratio, less
  what is provisioned and the reserve), as Cinder weighs it;
- ``AllocatedCapacityWeigher`` (-1): less provisioned capacity wins;
- ``VolumeNumberWeigher`` (-1): fewer volumes win.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from kumo.volume.scheduler.model import PoolState, Request


def free_capacity(pool: PoolState, request: Request) -> float:
    reserved = pool.total_gb * pool.reserved_percentage / 100.0
    if pool.thin and pool.max_over_subscription_ratio >= 1:
        return pool.total_gb * pool.max_over_subscription_ratio - pool.allocated_gb - reserved
    return pool.free_gb - reserved


def allocated_capacity(pool: PoolState, request: Request) -> float:
    return pool.allocated_gb


def volume_count(pool: PoolState, request: Request) -> float:
    return float(pool.volume_count)


@dataclass(frozen=True)
class Weigher:
    score: Callable[[PoolState, Request], float]
    multiplier: float


WEIGHERS: dict[str, Weigher] = {
    "CapacityWeigher": Weigher(free_capacity, 1.0),
    "AllocatedCapacityWeigher": Weigher(allocated_capacity, -1.0),
    "VolumeNumberWeigher": Weigher(volume_count, -1.0),
}


def resolve(names: tuple[str, ...]) -> tuple[Weigher, ...]:
    unknown = [n for n in names if n not in WEIGHERS]
    if unknown:
        raise ValueError(f"unknown volume weighers {unknown}; known: {sorted(WEIGHERS)}")
    return tuple(WEIGHERS[n] for n in names)
