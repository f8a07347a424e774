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
    """Where the database (SQLite, with the token signing keys) and clouds.yaml live."""

    database_url: str | None = os.environ.get("KUMO_DATABASE_URL") or None
    """SQLAlchemy URL; ``None`` means SQLite in ``state_dir/kumo.db``."""

    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    """Base URL clients use; defaults to http://host:port."""

    region: str = "RegionOne"
    token_ttl_seconds: int = _env_int("KUMO_TOKEN_TTL", 3600)

    max_active_keys: int = _env_int("KUMO_MAX_ACTIVE_KEYS", 3)
    """Keys a purpose keeps after a rotation (staged, primary and secondaries);
    a token lives through ``max_active_keys - 2`` rotations (Keystone's setting)."""
    key_refresh_seconds: float = float(os.environ.get("KUMO_KEY_REFRESH", "5"))
    """How old this process's copy of the signing keys may grow before it
    reads them again (a token that fails to verify reloads them at once)."""

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

    network_vlan_ranges: tuple[str, ...] = tuple(
        r for r in os.environ.get("KUMO_NETWORK_VLAN_RANGES", "physnet1:100:199").split(",") if r
    )
    """Tenant VLAN ranges, Neutron's ``network_vlan_ranges``: ``PHYSNET:MIN:MAX``
    entries (a VLAN network created without ``provider:segmentation_id`` gets
    the first free VLAN of its physical network's ranges, or of any range when
    it names no physical network). Default: VLANs 100-199 on the lab's physnet1."""

    tenant_network_type: str = "vxlan"

    auto_allocated_cidr: str = os.environ.get("KUMO_AUTO_ALLOCATED_CIDR", "10.0.0.0/24")
    """The subnet of every project's auto-allocated network ("get me a
    network"); each project has its own router, so the ranges may repeat."""

    agent_down_time: int = _env_int("KUMO_AGENT_DOWN_TIME", 15)
    """Seconds without a heartbeat after which an agent is reported dead."""

    router_distributed: bool = os.environ.get("KUMO_ROUTER_DISTRIBUTED", "") not in ("0", "false")
    """Whether a router created without ``distributed`` is distributed (Neutron's
    ``router_distributed``, whose default is false; kumo's is true)."""
    l3_ha: bool = os.environ.get("KUMO_L3_HA", "") not in ("", "0", "false")
    """Whether a router created without ``ha`` is highly available (Neutron's ``l3_ha``)."""
    max_l3_agents_per_router: int = _env_int("KUMO_MAX_L3_AGENTS_PER_ROUTER", 3)
    """How many gateway agents host each HA router; 0 means every eligible one."""

    distributed_snat: bool = os.environ.get("KUMO_DISTRIBUTED_SNAT", "") not in ("", "0", "false")
    """Whether a router created distributed and not HA translates its
    instances' outbound traffic on their own hosts (port blocks leased from
    the API, stateless gateways); ``distributed=false`` or ``ha=true`` keep
    centralized or HA SNAT."""
    snat_block_size: int = _env_int("KUMO_SNAT_BLOCK_SIZE", 64)
    """Ports (and ICMP echo identifiers) per leased block of an external address."""
    snat_port_range: tuple[int, int] = (1024, 61439)
    """The ports of an external address that leases hand out (the gateway
    translates hosts without a block yet to the ports above,
    ``kumo.compiler.snat.FALLBACK_PORTS``)."""
    snat_blocks_per_instance: int = _env_int("KUMO_SNAT_BLOCKS_PER_INSTANCE", 4)
    """Fairness bound: a host holds at most this many blocks of a router per
    instance it runs on the router's networks."""
    snat_reclaim_after: int = _env_int("KUMO_SNAT_RECLAIM_AFTER", 300)
    """Seconds after its agent is reported dead that a host's leases are
    reclaimed (its translated connections would have timed out by then)."""

    outbox_retention: int = _env_int("KUMO_OUTBOX_RETENTION", 200_000)
    """How many recent outbox events the watch feed keeps for resuming watchers."""
    list_places: int = _env_int("KUMO_LIST_PLACES", 8)
    """Agents' lists in progress at once per API process, the others waiting
    their turn in order (``kumo.api.internal.list_queue``)."""

    default_quotas: dict[str, int] = field(
        default_factory=lambda: {
            "network": 100,
            "subnet": 100,
            "subnetpool": -1,
            "port": 500,
            "router": 10,
            "floatingip": 50,
            "security_group": 10,
            "security_group_rule": 100,
            "rbac_policy": 10,
        }
    )

    compute_quotas: dict[str, int] = field(
        default_factory=lambda: {
            "instances": 10,
            "cores": 20,
            "ram": 51200,
            "key_pairs": 100,
            "metadata_items": 128,
            "server_groups": 10,
            "server_group_members": 10,
        }
    )
    """Default per-project compute quotas (``os-quota-sets``)."""

    cpu_allocation_ratio: float = float(os.environ.get("KUMO_CPU_ALLOCATION_RATIO", "16.0"))
    ram_allocation_ratio: float = float(os.environ.get("KUMO_RAM_ALLOCATION_RATIO", "1.5"))
    host_default_vcpus: int = _env_int("KUMO_HOST_DEFAULT_VCPUS", 8)
    """A compute host's vCPUs when its agent does not report ``vcpus``."""
    host_default_memory_mb: int = _env_int("KUMO_HOST_DEFAULT_MEMORY_MB", 16384)

    scheduler_filters: tuple[str, ...] = tuple(
        os.environ.get(
            "KUMO_SCHEDULER_FILTERS",
            "ComputeFilter,AvailabilityZoneFilter,RamFilter,CoreFilter,DriverFilter,"
            "ServerGroupAntiAffinityFilter,ServerGroupAffinityFilter,BandwidthFilter,"
            "PacketRateFilter",
        ).split(",")
    )
    """Filter names (see kumo/compute/scheduler/filters.py) or ``module:function``."""
    scheduler_weighers: tuple[str, ...] = tuple(
        os.environ.get("KUMO_SCHEDULER_WEIGHERS", "RAMWeigher,ServerGroupSoftWeigher").split(",")
    )
    """Weigher names (see kumo/compute/scheduler/weighers.py) or ``module:function``."""
    scheduler_spread: bool = os.environ.get("KUMO_SCHEDULER_PACK", "") == ""
    """Spread servers over hosts (Nova's default); ``KUMO_SCHEDULER_PACK=1`` packs them."""

    vif_plugged_timeout: int = _env_int("KUMO_VIF_PLUGGED_TIMEOUT", 300)
    """Seconds a new server may wait for its ports to turn ACTIVE before it is ERROR."""

    default_availability_zone: str = "nova"

    guest_image: Path | None = (
        Path(os.environ.get("KUMO_GUEST_IMAGE", "/var/lib/kumo/images/cirros.tar"))
        if os.environ.get("KUMO_GUEST_IMAGE", "x")
        else None
    )
    """The guest image bundle ``kumo image build`` makes; registered as the public
    image ``cirros`` when the API starts and it exists (its record ``cirros.json``
    beside it). ``KUMO_GUEST_IMAGE=`` (empty): none."""

    image_dir: Path | None = (
        Path(os.environ["KUMO_IMAGE_DIR"]) if os.environ.get("KUMO_IMAGE_DIR") else None
    )
    """Where image data lives (``None``: ``state_dir/images``). Several API servers
    share one store by mounting the same directory here (NFS, CephFS, ...)."""
    image_quota_bytes: int = _env_int("KUMO_IMAGE_QUOTA_BYTES", -1)
    """Bytes of image data each project may store (Glance's ``user_storage_quota``); -1: no limit."""
    image_size_cap: int = _env_int("KUMO_IMAGE_SIZE_CAP", 1 << 40)
    """The largest image accepted, in bytes (Glance's ``image_size_cap``, 1 TiB)."""
    metrics: bool = os.environ.get("KUMO_METRICS", "1") not in ("0", "false", "no")
    """Count requests, connections and feed lag for ``/metrics`` (``KUMO_METRICS=0``:
    off, and ``/metrics`` answers 404)."""

    stack_lease_seconds: float = float(os.environ.get("KUMO_STACK_LEASE", "30"))
    """How long an orchestration engine's hold on a stack in progress lasts unless renewed;
    a stack whose engine died is marked FAILED this long after (see orchestration/engine.py)."""
    stack_workers: int = _env_int("KUMO_STACK_WORKERS", 4)
    """Resources of one stack created (or deleted) at the same time, at most."""

    volume_quotas: dict[str, int] = field(
        default_factory=lambda: {
            "volumes": 10,
            "snapshots": 10,
            "gigabytes": 1000,
            "backups": 10,
            "backup_gigabytes": 1000,
            "groups": 10,
            "per_volume_gigabytes": -1,
        }
    )
    """Default per-project block storage quotas (``os-quota-sets``), until the
    quota class ``default`` says otherwise."""
    volume_scheduler_weighers: tuple[str, ...] = tuple(
        os.environ.get("KUMO_VOLUME_SCHEDULER_WEIGHERS", "CapacityWeigher").split(",")
    )
    """Weigher names (see kumo/volume/scheduler/weighers.py)."""
    storage_host_down_time: int = _env_int("KUMO_STORAGE_HOST_DOWN_TIME", 30)
    """Seconds without a heartbeat after which a storage host takes no new volumes."""

    def __post_init__(self) -> None:
        # Hosts derive a network's conntrack zone from its VNI (zones above
        # this are for VLAN and flat networks): see kumo/compiler/firewall.py.
        if not 0 < self.vni_min <= self.vni_max < 0xF000:
            raise ValueError(
                f"VNI range {self.vni_min}-{self.vni_max}: must be within 1-{0xF000 - 1}"
            )
        self.vlan_ranges  # noqa: B018 - parse now: a bad range fails at start
        if self.max_active_keys < 2:
            raise ValueError("max_active_keys must be 2 or more (a staged and a primary key)")
        if self.max_l3_agents_per_router < 0:
            raise ValueError("max_l3_agents_per_router must be 0 (every agent) or more")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.state_dir / 'kumo.db'}"

    @property
    def images_path(self) -> Path:
        return self.image_dir if self.image_dir is not None else self.state_dir / "images"

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    @property
    def vlan_ranges(self) -> dict[str, list[tuple[int, int]]]:
        """``network_vlan_ranges`` parsed: physical network -> (first, last) VLAN ranges."""
        out: dict[str, list[tuple[int, int]]] = {}
        for entry in self.network_vlan_ranges:
            parts = entry.strip().split(":")
            if len(parts) == 1 and parts[0]:
                out.setdefault(parts[0], [])
                continue
            try:
                physnet, first, last = parts[0], int(parts[1]), int(parts[2])
            except (IndexError, ValueError):
                raise ValueError(
                    f"network_vlan_ranges entry {entry!r}: expected PHYSNET or PHYSNET:MIN:MAX"
                ) from None
            if len(parts) != 3 or not physnet or not 1 <= first <= last <= 4094:
                raise ValueError(
                    f"network_vlan_ranges entry {entry!r}: expected PHYSNET:MIN:MAX "
                    "with 1 <= MIN <= MAX <= 4094"
                )
            out.setdefault(physnet, []).append((first, last))
        return out

    @property
    def overlay_mtu(self) -> int:
        return self.underlay_mtu - 50
