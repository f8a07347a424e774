"""Host weighers: ``(host, spec, settings) -> float``, higher is better.

Each weigher's values are normalised to 0..1 over the candidate hosts
before they are summed, as Nova does, so no weigher drowns the others.
"""

from __future__ import annotations

from collections.abc import Callable

from kumo.compute.scheduler.hosts import HostState, RequestSpec
from kumo.config import Settings

Weigher = Callable[[HostState, RequestSpec, Settings], float]


def ram_weigher(host: HostState, spec: RequestSpec, settings: Settings) -> float:
    """Free RAM: spread puts the next server on the emptiest host, pack on the fullest."""
    free = host.memory_mb * settings.ram_allocation_ratio - host.memory_mb_used
    return free if settings.scheduler_spread else -free


def cpu_weigher(host: HostState, spec: RequestSpec, settings: Settings) -> float:
    free = host.vcpus * settings.cpu_allocation_ratio - host.vcpus_used
    return free if settings.scheduler_spread else -free


def server_group_soft_weigher(host: HostState, spec: RequestSpec, settings: Settings) -> float:
    """soft-affinity prefers hosts with more group members, soft-anti-affinity fewer."""
    members = float(spec.group_hosts.count(host.host))
    if spec.group_policy == "soft-affinity":
        return members
    if spec.group_policy == "soft-anti-affinity":
        return -members
    return 0.0


WEIGHERS: dict[str, Weigher] = {
    "RAMWeigher": ram_weigher,
    "CPUWeigher": cpu_weigher,
    "ServerGroupSoftWeigher": server_group_soft_weigher,
}

MULTIPLIERS: dict[Weigher, float] = {server_group_soft_weigher: 2.0}
"""A weigher's share of the total (1.0 unless listed): soft group policies
outweigh spreading, as a user asking for them expects."""
