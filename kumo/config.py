"""Typed settings shared by the API server, the service layer and the agents.

Every field has a default that works for the lab on one machine; a multi-node
deployment overrides them with environment variables (``KUMO_*``) or flags.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


@dataclass(frozen=True)
class Settings:
    state_dir: Path = Path(os.environ.get("KUMO_STATE_DIR", "/var/lib/kumo"))
    """Where the database (SQLite), the token keys and clouds.yaml live."""

    database_url: str | None = os.environ.get("KUMO_DATABASE_URL") or None
    """SQLAlchemy URL; ``None`` means SQLite in ``state_dir/kumo.db``."""

    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    """Base URL clients use; defaults to http://host:port."""

    region: str = "RegionOne"
    token_ttl_seconds: int = _env_int("KUMO_TOKEN_TTL", 3600)

    underlay_mtu: int = _env_int("KUMO_UNDERLAY_MTU", 1500)
    """MTU of the underlay; VXLAN networks get this minus 50."""

    vni_min: int = _env_int("KUMO_VNI_MIN", 1001)
    vni_max: int = _env_int("KUMO_VNI_MAX", 16000)
    mac_base: str = os.environ.get("KUMO_MAC_BASE", "fa:16:3e")
    """First three octets of generated MAC addresses."""

    physical_networks: tuple[str, ...] = tuple(
        p for p in os.environ.get("KUMO_PHYSICAL_NETWORKS", "physnet1,external").split(",") if p
    )
    """Provider physical networks that flat/vlan networks may name."""

    tenant_network_type: str = "vxlan"

    agent_down_time: int = _env_int("KUMO_AGENT_DOWN_TIME", 15)
    """Seconds without a heartbeat after which an agent is reported dead."""

    outbox_retention: int = _env_int("KUMO_OUTBOX_RETENTION", 200_000)
    """How many recent outbox events the watch feed keeps for resuming watchers."""

    default_quotas: dict[str, int] = field(
        default_factory=lambda: {
            "network": 100,
            "subnet": 100,
            "port": 500,
            "router": 10,
            "floatingip": 50,
            "security_group": 10,
            "security_group_rule": 100,
        }
    )

    def __post_init__(self) -> None:
        # Hosts derive a network's conntrack zone from its VNI (zones above
        # this are for VLAN and flat networks): see kumo/compiler/firewall.py.
        if not 0 < self.vni_min <= self.vni_max < 0xF000:
            raise ValueError(
                f"VNI range {self.vni_min}-{self.vni_max}: must be within 1-{0xF000 - 1}"
            )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.state_dir / 'kumo.db'}"

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def overlay_mtu(self) -> int:
        return self.underlay_mtu - 50
