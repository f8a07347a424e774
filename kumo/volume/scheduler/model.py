"""What the scheduler reads and answers: typed, frozen, no database rows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PoolState:
    host: str
    pool: str
    total_gb: float
    free_gb: float
    """What the pool's files leave free, as its agent last measured."""
    allocated_gb: float = 0.0
    """The sum of the sizes of the volumes and snapshots placed in the pool."""
    volume_count: int = 0
    zone: str = "nova"
    backend: str = "file"
    thin: bool = True
    max_over_subscription_ratio: float = 20.0
    reserved_percentage: int = 0
    capabilities: Mapping[str, str] = field(default_factory=dict)
    up: bool = True
    """The host's agent beat recently and the host is not disabled."""

    @property
    def name(self) -> str:
        """Cinder's pool name: ``host@backend#pool``."""
        return f"{self.host}@{self.backend}#{self.pool}"


@dataclass(frozen=True)
class Request:
    size: int
    """GiB."""
    zone: str | None = None
    extra_specs: Mapping[str, str] = field(default_factory=dict)
    pool: tuple[str, str] | None = None
    """Only this (host, pool): volumes made from a snapshot or another volume
    are copied where their source lies."""
    host: str | None = None
    """Only pools of this storage host: a volume joining a group goes where
    the group's volumes are (a consistent group snapshot is one transaction
    of one storage daemon, so a group never spans storage hosts)."""


@dataclass(frozen=True)
class Placement:
    host: str
    pool: str
    weight: float


@dataclass(frozen=True)
class PairPlacement:
    """A replicated volume: its primary and, on another host, its replica."""

    primary: Placement
    replica: Placement


@dataclass(frozen=True)
class NoValidPool:
    reasons: tuple[tuple[str, str], ...]
    """(pool name, why it was filtered out), for each pool considered."""
    replica: bool = False
    """No pool on a second storage host could take the replica (the primary fitted)."""

    def message(self, size: int) -> str:
        if self.replica:
            why = "; ".join(f"{pool}: {reason}" for pool, reason in self.reasons)
            return (
                f"No storage could be allocated for the replica of this replicated {size} GiB "
                f"volume: it needs a pool on a second storage host ({why or 'there is none'})."
            )
        if not self.reasons:
            return (
                f"No storage could be allocated for this {size} GiB volume: no storage host "
                "has registered a pool."
            )
        why = "; ".join(f"{pool}: {reason}" for pool, reason in self.reasons)
        return f"No storage could be allocated for this {size} GiB volume ({why})."
