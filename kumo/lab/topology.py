"""The lab's shape as data: names and addresses, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from kumo.lab.naming import host_alias

UNDERLAY_PREFIX = "192.0.2"
EXTERNAL_CIDR = "203.0.113.0/24"
UPSTREAM_IP = "203.0.113.1"


@dataclass(frozen=True)
class LabHost:
    index: int
    name: str
    netns: str
    tunnel_ip: str
    underlay_dev: str = "eth0"
    physnet_dev: str = "eth1"
    external_dev: str = "eth2"
    more_physnets: tuple[tuple[str, str], ...] = ()
    """(physical network, device) of the lab's further physical networks
    this host is on (``kumo up --physnet``): ``eth3``, ``eth4``..."""

    @property
    def bridge_mappings(self) -> dict[str, str]:
        return {
            "physnet1": self.physnet_dev,
            "external": self.external_dev,
            **dict(self.more_physnets),
        }


@dataclass(frozen=True)
class LabPhysnet:
    """A further physical network: a bridge namespace joined by some hosts."""

    name: str
    netns: str
    hosts: tuple[int, ...]
    """The numbers of the hosts on it."""


@dataclass(frozen=True)
class Topology:
    prefix: str
    hosts: tuple[LabHost, ...]
    physnets: tuple[LabPhysnet, ...] = ()

    @property
    def underlay(self) -> str:
        return f"{self.prefix}ul"

    @property
    def physnet(self) -> str:
        return f"{self.prefix}phys"

    @property
    def external(self) -> str:
        return f"{self.prefix}ext"

    @property
    def upstream(self) -> str:
        return f"{self.prefix}up"

    @property
    def namespaces(self) -> tuple[str, ...]:
        return (
            self.underlay,
            self.physnet,
            self.external,
            self.upstream,
            *(p.netns for p in self.physnets),
            *(h.netns for h in self.hosts),
        )


RESERVED_PHYSNETS = ("physnet1", "external")
"""The physical networks every lab host maps."""


def make(
    count: int = 3,
    prefix: str = "klab-",
    stem: str | None = None,
    physnets: dict[str, list[int]] | None = None,
) -> Topology:
    """``count`` hosts named ``stem`` + number (see ``kumo.lab.naming``);
    ``physnets``: further physical networks and the numbers of the hosts on
    each (namespace ``PREFIXpnK``, the host's next ``ethN`` mapped to it)."""
    if not 1 <= count <= 200:
        raise ValueError("a lab has 1 to 200 hosts")
    physnets = physnets or {}
    for name, on in physnets.items():
        if name in RESERVED_PHYSNETS:
            raise ValueError(f"every lab host maps the physical network {name} already")
        if not on or any(not 1 <= i <= count for i in on):
            raise ValueError(f"physical network {name}: hosts are numbered 1 to {count}")
    segments = tuple(
        LabPhysnet(name=name, netns=f"{prefix}pn{k}", hosts=tuple(sorted(set(on))))
        for k, (name, on) in enumerate(physnets.items(), start=1)
    )
    # The default lab's hosts are host1..hostN; another lab names its hosts
    # after itself so its instance namespaces can never be mistaken for
    # another lab's.
    if stem is None:
        stem = "host" if prefix == "klab-" else f"{prefix}host"
    hosts = tuple(
        LabHost(
            index=i,
            name=f"{stem}{i}",
            netns=f"{prefix}h{i}",
            tunnel_ip=f"{UNDERLAY_PREFIX}.{10 + i}",
            more_physnets=_devices(i, segments),
        )
        for i in range(1, count + 1)
    )
    return Topology(prefix=prefix, hosts=hosts, physnets=segments)


def _devices(index: int, segments: tuple[LabPhysnet, ...]) -> tuple[tuple[str, str], ...]:
    """(physical network, device) of host ``index``: eth3 onwards, in order."""
    joined = [seg.name for seg in segments if index in seg.hosts]
    return tuple((name, f"eth{3 + k}") for k, name in enumerate(joined))


def parse_physnet(spec: str, host_names: list[str]) -> tuple[str, list[int]]:
    """``NAME:HOST[,HOST...]`` (``kumo up --physnet``): the physical network
    and the numbers of its hosts, each given by name, as ``hostN`` or as N."""
    name, sep, refs = spec.partition(":")
    if not sep or not name or not refs:
        raise ValueError(f"--physnet {spec!r}: expected NAME:HOST[,HOST...]")
    numbers = []
    for ref in refs.split(","):
        ref = ref.strip()
        known = host_alias(ref if not ref.isdigit() else f"host{ref}", host_names)
        if known not in host_names:
            raise ValueError(f"--physnet {spec!r}: no host {ref!r} in the lab")
        numbers.append(host_names.index(known) + 1)
    return name, numbers
