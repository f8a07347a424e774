"""Host filters: ``(host, spec, settings) -> bool``; a host must pass every one."""

from __future__ import annotations

from collections.abc import Callable

from kumo.compute.scheduler.hosts import HostState, RequestSpec
from kumo.config import Settings

Filter = Callable[[HostState, RequestSpec, Settings], bool]


def compute_filter(host: HostState, spec: RequestSpec, settings: Settings) -> bool:
    """The agent is alive, enabled, and not a gateway-only host."""
    return host.alive and host.enabled and host.compute


def availability_zone_filter(host: HostState, spec: RequestSpec, settings: Settings) -> bool:
    return spec.zone is None or host.zone == spec.zone


def ram_filter(host: HostState, spec: RequestSpec, settings: Settings) -> bool:
    limit = host.memory_mb * settings.ram_allocation_ratio
    return host.memory_mb_used + spec.memory_mb <= limit


def core_filter(host: HostState, spec: RequestSpec, settings: Settings) -> bool:
    limit = host.vcpus * settings.cpu_allocation_ratio
    return host.vcpus_used + spec.vcpus <= limit


def driver_filter(host: HostState, spec: RequestSpec, settings: Settings) -> bool:
    """The host's agent runs the server's compute driver (QEMU for a VM)."""
    return spec.driver in host.drivers


def anti_affinity_filter(host: HostState, spec: RequestSpec, settings: Settings) -> bool:
    if spec.group_policy != "anti-affinity":
        return True
    return spec.group_hosts.count(host.host) < spec.group_max_per_host


def affinity_filter(host: HostState, spec: RequestSpec, settings: Settings) -> bool:
    if spec.group_policy != "affinity" or not spec.group_hosts:
        return True
    return host.host in spec.group_hosts


def forced_host_filter(host: HostState, spec: RequestSpec, settings: Settings) -> bool:
    """``availability_zone: "zone:host"`` (admin) pins the host."""
    return spec.force_host is None or host.host == spec.force_host


def bandwidth_filter(host: HostState, spec: RequestSpec, settings: Settings) -> bool:
    """The host offers, on each physical network the server's ports ask
    bandwidth of, what they ask beside what its bound ports ask already
    (minimum bandwidth rules; Placement's inventory without Placement)."""
    if not spec.bandwidth:
        return True
    offered = host.bandwidths
    for physnet, (egress, ingress) in spec.bandwidth.items():
        if physnet not in offered:
            return False
        used = host.bandwidth_used.get(physnet, (0, 0))
        if used[0] + egress > offered[physnet][0] or used[1] + ingress > offered[physnet][1]:
            return False
    return True


def packet_rate_filter(host: HostState, spec: RequestSpec, settings: Settings) -> bool:
    """The host's switch offers, in each direction the server's ports ask a
    minimum packet rate in (egress, ingress, or ``any``: both together), what
    they ask beside what its bound ports ask already. As Placement's resource
    classes, a direction the host does not offer has no room at all."""
    offered = host.packet_rates
    for direction, kpps in spec.packet_rate.items():
        if kpps <= 0:
            continue
        if direction not in offered:
            return False
        if host.packet_rate_used.get(direction, 0) + kpps > offered[direction]:
            return False
    return True


FILTERS: dict[str, Filter] = {
    "ComputeFilter": compute_filter,
    "AvailabilityZoneFilter": availability_zone_filter,
    "RamFilter": ram_filter,
    "CoreFilter": core_filter,
    "DriverFilter": driver_filter,
    "ServerGroupAntiAffinityFilter": anti_affinity_filter,
    "ServerGroupAffinityFilter": affinity_filter,
    "ForcedHostFilter": forced_host_filter,
    "BandwidthFilter": bandwidth_filter,
    "PacketRateFilter": packet_rate_filter,
}
