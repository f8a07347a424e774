"""Host states (capacity and usage per compute host) and the request being placed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kumo.config import Settings
from kumo.db.agent_models import Agent
from kumo.db.base import utcnow
from kumo.db.compute_models import Server

AGENT_BINARY = "kumo-agent"


@dataclass
class HostState:
    host: str
    agent_id: str
    zone: str
    alive: bool
    enabled: bool
    compute: bool
    """False only when the agent says ``"compute": false`` (a pure gateway)."""
    vcpus: int
    memory_mb: int
    vcpus_used: int = 0
    memory_mb_used: int = 0
    running: int = 0
    updated_at: dt.datetime | None = None
    configurations: dict[str, Any] = field(default_factory=dict)
    bandwidth_used: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Physical network → (egress, ingress) kbps the ports bound here ask for
    (minimum bandwidth rules)."""
    packet_rate_used: dict[str, int] = field(default_factory=dict)
    """Direction (egress, ingress, any) → kpps the ports bound here ask for
    (minimum packet rate rules)."""

    @property
    def bandwidths(self) -> dict[str, tuple[int, int]]:
        """Physical network → (egress, ingress) kbps the host offers for
        minimum bandwidth asks (``configurations.bandwidths``)."""
        out: dict[str, tuple[int, int]] = {}
        found = self.configurations.get("bandwidths")
        if not isinstance(found, dict):
            return out
        for physnet, pair in found.items():
            if isinstance(pair, dict):
                out[str(physnet)] = (_kbps(pair.get("egress")), _kbps(pair.get("ingress")))
        return out

    @property
    def packet_rates(self) -> dict[str, int]:
        """Direction → kpps the host's switch offers to minimum packet rate
        asks (``configurations.packet_rates``): ``any`` alone, or ``egress``
        and ``ingress``."""
        found = self.configurations.get("packet_rates")
        if not isinstance(found, dict):
            return {}
        return {str(d): _kbps(v) for d, v in found.items() if d in ("egress", "ingress", "any")}

    @property
    def drivers(self) -> tuple[str, ...]:
        """Compute drivers the host's agent runs (``configurations.drivers``;
        an agent that does not say runs namespaces only)."""
        found = self.configurations.get("drivers")
        if isinstance(found, list) and all(isinstance(d, str) for d in found):
            return tuple(found)
        return ("namespace",)

    def claim(self, vcpus: int, memory_mb: int) -> None:
        self.vcpus_used += vcpus
        self.memory_mb_used += memory_mb
        self.running += 1


@dataclass(frozen=True)
class RequestSpec:
    vcpus: int
    memory_mb: int
    zone: str | None = None
    force_host: str | None = None
    group_policy: str | None = None
    group_max_per_host: int = 1
    group_hosts: tuple[str, ...] = ()
    """Hosts of the group's current members, one entry per member."""
    driver: str = "namespace"
    """The compute driver the server needs (``kumo.compute.drivers``)."""
    bandwidth: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Physical network → (egress, ingress) kbps the server's ports ask for."""
    packet_rate: dict[str, int] = field(default_factory=dict)
    """Direction (egress, ingress, any) → kpps the server's ports ask for."""


def host_state(agent: Agent, settings: Settings, now: dt.datetime) -> HostState:
    config = dict(agent.configurations or {})
    return HostState(
        host=agent.host,
        agent_id=agent.id,
        zone=agent.availability_zone or settings.default_availability_zone,
        alive=(now - agent.heartbeat_timestamp).total_seconds() < settings.agent_down_time,
        enabled=agent.admin_state_up,
        compute=config.get("compute", True) is not False,
        vcpus=_positive(config.get("vcpus"), settings.host_default_vcpus),
        memory_mb=_positive(config.get("memory_mb"), settings.host_default_memory_mb),
        updated_at=agent.heartbeat_timestamp,
        configurations=config,
    )


def _kbps(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _positive(value: Any, default: int) -> int:
    return (
        value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default
    )


def load(session: Session, settings: Settings, *, lock: bool = False) -> list[HostState]:
    """Every host agent with the usage of the servers placed on it.

    With ``lock`` the agent rows are locked (in id order) until commit, so a
    concurrent placement waits and then reads the usage this one claimed.
    """
    q = select(Agent).where(Agent.binary == AGENT_BINARY).order_by(Agent.id)
    if lock:
        q = q.with_for_update()
    now = utcnow()
    states = {a.host: host_state(a, settings, now) for a in session.scalars(q)}
    usage = session.execute(
        select(Server.host, func.sum(Server.vcpus), func.sum(Server.memory_mb), func.count())
        .where(Server.host.is_not(None))
        .group_by(Server.host)
    )
    for host, vcpus, memory, count in usage:
        state = states.get(host) if host else None
        if state is not None:
            state.vcpus_used = int(vcpus or 0)
            state.memory_mb_used = int(memory or 0)
            state.running = int(count or 0)
    return sorted(states.values(), key=lambda h: h.host)


def add_bandwidth_used(session: Session, states: list[HostState]) -> None:
    """Fill in what the ports bound to each host ask of its physical networks
    (read only for a server whose ports ask anything: it scans the bound ports)."""
    from kumo.network.qos import minimum

    by_host = {s.host: s for s in states}
    for host, used in minimum.used_by_host(session).items():
        if host in by_host:
            by_host[host].bandwidth_used = used


def add_packet_rate_used(session: Session, states: list[HostState]) -> None:
    """Fill in what the ports bound to each host ask of its switch's packet
    rate (read only for a server whose ports ask any: it scans the bound ports)."""
    from kumo.network.qos import minimum

    by_host = {s.host: s for s in states}
    for host, used in minimum.packet_rates_used_by_host(session).items():
        if host in by_host:
            by_host[host].packet_rate_used = used
