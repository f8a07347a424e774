"""A throwaway two-host topology for root tests: an underlay namespace with a
bridge, and two host namespaces whose ``eth0`` sits on it (192.0.2.0/24).
Every name is unique (``k`` + random); ``close()`` removes everything it made
and every instance namespace of its hosts, even after a failed test."""

from __future__ import annotations

import subprocess
import uuid
from dataclasses import dataclass, field

from kumo.compiler import names
from kumo.dataplane import netns


def sh(*args: str, check: bool = True, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {result.stderr.strip()}")
    return result


@dataclass
class RootLab:
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    created: list[str] = field(default_factory=list)
    hosts: dict[str, str] = field(default_factory=dict)
    """host name → its namespace."""
    tunnel_ips: dict[str, str] = field(default_factory=dict)

    @property
    def underlay(self) -> str:
        return f"ku{self.tag}"

    def start(self, count: int = 2) -> RootLab:
        sh("ip", "netns", "add", self.underlay)
        self.created.append(self.underlay)
        sh("ip", "-n", self.underlay, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.underlay, "link", "set", "br0", "up")
        for i in range(count):
            host = f"rt{self.tag}-{chr(ord('a') + i)}"
            ns = f"kh{self.tag}{chr(ord('a') + i)}"
            sh("ip", "netns", "add", ns)
            self.created.append(ns)
            self.hosts[host] = ns
            self.tunnel_ips[host] = f"192.0.2.{11 + i}"
            sh("ip", "-n", self.underlay, "link", "add", f"u{i}", "type", "veth",
               "peer", "name", "eth0", "netns", ns)  # fmt: skip
            sh("ip", "-n", self.underlay, "link", "set", f"u{i}", "master", "br0", "up")
            sh("ip", "-n", ns, "addr", "add", f"{self.tunnel_ips[host]}/24", "dev", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        return self

    def agent_bodies(self) -> list[dict[str, object]]:
        return [
            {
                "id": f"agent-{host}",
                "host": host,
                "configurations": {"tunnel_ip": self.tunnel_ips[host], "underlay_device": "eth0"},
            }
            for host in self.hosts
        ]

    def instance_netns_left(self) -> list[str]:
        return sorted(
            name
            for name in netns.list_names()
            for host in self.hosts
            if names.is_instance_netns(name, host)
        )

    def kumo_links(self, ns: str) -> list[str]:
        out = sh("ip", "-n", ns, "-o", "link", "show").stdout
        found = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]
        return [name for name in found if names.is_kumo_name(name)]

    def host_netns_left(self) -> list[str]:
        """Every instance, router and metadata namespace of this lab's hosts."""
        return sorted(
            name
            for name in netns.list_names()
            for host in self.hosts
            if names.is_instance_netns(name, host)
            or names.is_router_netns(name, host)
            or names.is_metadata_netns(name, host)
        )

    def close(self) -> None:
        for name in self.host_netns_left():
            try:
                netns.remove(name)  # stops what runs inside first
            except OSError:
                sh("ip", "netns", "del", name, check=False)
        for name in reversed(self.created):
            sh("ip", "netns", "del", name, check=False)
