"""The lab's shape as data: names and addresses, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

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

    @property
    def bridge_mappings(self) -> dict[str, str]:
        return {"physnet1": self.physnet_dev, "external": self.external_dev}


@dataclass(frozen=True)
class Topology:
    prefix: str
    hosts: tuple[LabHost, ...]

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
            *(h.netns for h in self.hosts),
        )


def make(count: int = 3, prefix: str = "klab-", stem: str | None = None) -> Topology:
    """``count`` hosts named ``stem`` + number (see ``kumo.lab.naming``)."""
    if not 1 <= count <= 200:
        raise ValueError("a lab has 1 to 200 hosts")
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
        )
        for i in range(1, count + 1)
    )
    return Topology(prefix=prefix, hosts=hosts)
