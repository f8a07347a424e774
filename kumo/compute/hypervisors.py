"""``os-hypervisors``: one per compute host agent, with capacity and usage.

Capacity is what the host's agent reports (its real vCPUs and RAM, or the
ones it was told to offer, and ``QEMU`` as its type when it runs VMs);
usage is the flavors of the servers placed on it."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.compute.common import ts
from kumo.compute.microversion import Version
from kumo.compute.microversion import parse as parse_version
from kumo.compute.scheduler import hosts as host_states
from kumo.compute.scheduler.hosts import HostState
from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.agent_models import Agent
from kumo.db.base import utcnow
from kumo.db.compute_models import Server
from kumo.errors import Forbidden, NotFound
from kumo.policy import allowed

HYPERVISOR_TYPE = "namespace"


def require_admin(ctx: RequestContext, what: str) -> None:
    if not allowed(ctx, "compute:hypervisors"):
        raise Forbidden(f"Policy doesn't allow os_compute_api:{what} to be performed.")


def compute_hosts(session: Session, settings: Settings) -> list[HostState]:
    """Every agent host but gateway-only ones (``"compute": false``)."""
    return [h for h in host_states.load(session, settings) if h.compute]


def view(h: HostState, version: Version, *, detail: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": h.agent_id,
        "hypervisor_hostname": h.host,
        "state": "up" if h.alive else "down",
        "status": "enabled" if h.enabled else "disabled",
    }
    if not detail:
        return out
    out.update(
        {
            "hypervisor_type": str(h.configurations.get("hypervisor_type") or HYPERVISOR_TYPE),
            "hypervisor_version": 1,
            "host_ip": h.configurations.get("tunnel_ip") or "",
            "service": {"host": h.host, "id": h.agent_id, "disabled_reason": None},
            "vcpus": h.vcpus,
            "memory_mb": h.memory_mb,
            "local_gb": _local_gb(h),
            "vcpus_used": h.vcpus_used,
            "memory_mb_used": h.memory_mb_used,
            "local_gb_used": 0,
            "free_ram_mb": h.memory_mb - h.memory_mb_used,
            "free_disk_gb": _local_gb(h),
            "current_workload": 0,
            "running_vms": h.running,
            "disk_available_least": 0,
            "cpu_info": {} if version.at_least("2.28") else "{}",
        }
    )
    return out


def _local_gb(h: HostState) -> int:
    value = h.configurations.get("local_gb")
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def find(session: Session, settings: Settings, ident: str) -> HostState:
    for h in compute_hosts(session, settings):
        if ident in (h.agent_id, h.host):
            return h
    raise NotFound(f"Hypervisor with ID '{ident}' could not be found.", kind="HypervisorNotFound")


def uptime(session: Session, settings: Settings, ident: str) -> dict[str, Any]:
    """The hypervisor with ``uptime``: how long its host's agent has been
    running, in the shape of ``uptime``'s first fields (the hypervisor of a
    kumo host is its agent)."""
    h = find(session, settings, ident)
    agent = session.get(Agent, h.agent_id)
    now = utcnow()
    seconds = int((now - agent.started_at).total_seconds()) if agent is not None else 0
    days, rest = divmod(max(seconds, 0), 86400)
    hours, minutes = rest // 3600, rest % 3600 // 60
    out = view(h, parse_version("2.1"), detail=False)
    out["uptime"] = f" {now:%H:%M:%S} up {days} days, {hours:2d}:{minutes:02d}"
    return out


def search(
    session: Session, settings: Settings, pattern: str, *, servers_too: bool
) -> list[dict[str, Any]]:
    """Hypervisors whose hostname contains ``pattern`` (404 when none), with
    their servers when asked."""
    found = [h for h in compute_hosts(session, settings) if pattern in h.host]
    if not found:
        raise NotFound(
            f"No hypervisor matching '{pattern}' could be found.", kind="HypervisorNotFound"
        )
    out = []
    for h in found:
        item: dict[str, Any] = {
            "id": h.agent_id,
            "hypervisor_hostname": h.host,
            "state": "up" if h.alive else "down",
            "status": "enabled" if h.enabled else "disabled",
        }
        if servers_too:
            rows = session.execute(
                select(Server.id, Server.name).where(Server.host == h.host).order_by(Server.name)
            )
            servers = [{"uuid": i, "name": n} for i, n in rows]
            if servers:
                item["servers"] = servers
        out.append(item)
    return out


def statistics(hosts: list[HostState]) -> dict[str, int]:
    return {
        "count": len(hosts),
        "vcpus": sum(h.vcpus for h in hosts),
        "memory_mb": sum(h.memory_mb for h in hosts),
        "local_gb": 0,
        "vcpus_used": sum(h.vcpus_used for h in hosts),
        "memory_mb_used": sum(h.memory_mb_used for h in hosts),
        "local_gb_used": 0,
        "free_ram_mb": sum(h.memory_mb - h.memory_mb_used for h in hosts),
        "free_disk_gb": 0,
        "current_workload": 0,
        "running_vms": sum(h.running for h in hosts),
        "disk_available_least": 0,
    }


def legacy_id(ident: str) -> int:
    """The integer id Nova's services carry before 2.53 (UUIDs from then on):
    a stable number derived from the UUID."""
    return uuid.UUID(ident).int % 2**31


def service_view(h: HostState, version: Version) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": h.agent_id if version.at_least("2.53") else legacy_id(h.agent_id),
        "binary": "nova-compute",
        "host": h.host,
        "zone": h.zone,
        "status": "enabled" if h.enabled else "disabled",
        "state": "up" if h.alive else "down",
        "updated_at": ts(h.updated_at),
        "disabled_reason": None,
    }
    if version.at_least("2.11"):
        out["forced_down"] = False
    return out
