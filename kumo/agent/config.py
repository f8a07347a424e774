"""Typed settings of one agent process."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kumo.ha.liveness import LivenessSettings

VM_ROOT = Path("/run/kumo/vms")
"""Each host's VMs live under ``VM_ROOT/<host>`` unless told otherwise."""


@dataclass(frozen=True)
class Credentials:
    auth_url: str
    username: str
    password: str
    project_name: str = "service"
    user_domain_id: str = "default"
    project_domain_id: str = "default"


@dataclass(frozen=True)
class AgentConfig:
    host: str
    api_url: str
    """The API's base URL; several, comma-separated, are servers of one
    cloud that the agent moves between when the one it uses fails."""
    credentials: Credentials
    netns: str | None = None
    """Namespace that is this host (the lab); None: the agent's own namespace."""
    tunnel_ip: str | None = None
    underlay_device: str | None = None
    bridge_mappings: dict[str, str] = field(default_factory=dict)
    bandwidths: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Physical network → (egress, ingress) kbps it offers to ports' minimum
    bandwidth rules (the compute scheduler's inventory)."""
    packet_rates: dict[str, int] = field(default_factory=dict)
    """Direction → kpps the host's switch offers to ports' minimum packet
    rate rules: ``any`` alone, or ``egress`` and ``ingress``."""
    vlan_devices: bool | None = None
    """The kernel makes 802.1Q VLAN devices; None: not known (the agent
    probes its kernel once when it starts)."""
    gateway: bool = False
    """This host may run routers' external gateways and SNAT (needs the
    external network's physical network in ``bridge_mappings``)."""
    availability_zone: str = "nova"
    heartbeat_interval: float = 5.0
    debounce: float = 0.02
    """While changes keep coming (the last pass ended less than this ago),
    seconds to wait for more before compiling; after a quiet spell a change
    is compiled at once."""
    state_dir: Path | None = None
    """Where the agent keeps what it remembers across restarts (None:
    ``kumo.agent.memory.STATE_DIR``)."""
    slow_pass: float = 0.2
    """A pass that takes longer is logged with its breakdown."""
    resync_interval: float = 60.0
    """Full read-back of the kernel at least this often, even with no events."""
    read_timeout: float = 20.0
    """A watch that shows nothing (not even a bookmark) for this long is dead."""
    liveness: LivenessSettings = field(default_factory=LivenessSettings)
    vm_dir: Path | None = None
    """Where this host's VMs keep their state (None: no QEMU driver)."""
    console_url: str | None = None
    """Where API servers reach this host's console endpoint (None: it serves none)."""
    image_cache: Path = Path("/var/cache/kumo/images")
    """Image bundles by hash, and unpacked once each (shared by a machine's hosts)."""
    vm_memory_mb: int | None = None
    """RAM given to a VM at most (None: its flavor's)."""
    vcpus: int | None = None
    """vCPUs this host offers (None: the machine's)."""
    memory_mb: int | None = None
    """RAM (MB) this host offers (None: the machine's)."""
    state_sync: bool = True
    """Sync HA routers' conntrack entries to their standbys (False: rely on
    the kernel's loose TCP pickup after a failover)."""
    """Beats between hosts that decide highly available routers' active gateways."""
