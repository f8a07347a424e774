"""Root tests of routing on the real kernel: three hosts on an underlay and
an external segment with an upstream namespace (203.0.113.1), plans compiled
from Neutron bodies. Distributed routers route east-west on the source host
(the gateway host sees none of it), SNAT on the gateway host, floating IPs
on the instance's host and moving with re-association; the centralized
router does everything on its gateway host.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from kumo.compiler import ClusterView, HostPlan, compile_host
from kumo.compiler import names as n
from kumo.dataplane.driver import Dataplane
from tests.compiler import states as s
from tests.dataplane.rootlab import RootLab, sh
from tests.dataplane.test_kernel_root import Capture

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]

R = "e0000000-0000-4000-8000-0000000000e1"
EXT = "e0000000-0000-4000-8000-0000000000ee"
I1, I2 = "e1000000-0000-4000-8000-000000000001", "e2000000-0000-4000-8000-000000000002"
C1, C2 = "ec100000-0000-4000-8000-000000000001", "ec200000-0000-4000-8000-000000000002"
GW = "e9000000-0000-4000-8000-000000000009"
FIP = "ef000000-0000-4000-8000-00000000000f"
A, B, D = s.P1, s.P2, s.P3
UPSTREAM = "203.0.113.1"


class ExternalLab(RootLab):
    """RootLab plus an external segment (``eth1`` on every host) and an
    upstream namespace at 203.0.113.1."""

    @property
    def ext(self) -> str:
        return f"ke{self.tag}"

    @property
    def upstream(self) -> str:
        return f"kp{self.tag}"

    def start(self, count: int = 3) -> ExternalLab:
        super().start(count)
        sh("ip", "netns", "add", self.ext)
        self.created.append(self.ext)
        sh("ip", "-n", self.ext, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.ext, "link", "set", "br0", "up")
        for i, ns in enumerate(self.hosts.values()):
            sh("ip", "-n", self.ext, "link", "add", f"x{i}", "type", "veth",
               "peer", "name", "eth1", "netns", ns)  # fmt: skip
            sh("ip", "-n", self.ext, "link", "set", f"x{i}", "master", "br0", "up")
            sh("ip", "-n", ns, "link", "set", "eth1", "up")
        sh("ip", "netns", "add", self.upstream)
        self.created.append(self.upstream)
        sh("ip", "-n", self.ext, "link", "add", "xup", "type", "veth",
           "peer", "name", "eth0", "netns", self.upstream)  # fmt: skip
        sh("ip", "-n", self.ext, "link", "set", "xup", "master", "br0", "up")
        sh("ip", "-n", self.upstream, "addr", "add", f"{UPSTREAM}/24", "dev", "eth0")
        sh("ip", "-n", self.upstream, "link", "set", "eth0", "up")
        sh("ip", "-n", self.upstream, "link", "set", "lo", "up")
        return self

    def agent_bodies(self) -> list[dict[str, object]]:
        bodies = super().agent_bodies()
        for body in bodies:
            conf = body["configurations"]
            assert isinstance(conf, dict)
            conf["bridge_mappings"] = {"external": "eth1"}
        return bodies


def rport(pid: str, net: str, mac: str, ip: tuple[str, str], owner: str, host: str = "") -> Any:
    return s.port(pid, net, mac, host, [ip], owner=owner, device_id=R,
                  port_security_enabled=False)  # fmt: skip


class Routed:
    def __init__(self, lab: ExternalLab, distributed: bool = True) -> None:
        self.lab = lab
        self.a, self.b, self.c = list(lab.hosts)
        self.distributed = distributed
        owner = "network:router_interface" + ("_distributed" if distributed else "")
        where = "" if distributed else self.c
        self.router: dict[str, Any] = {
            "id": R,
            "admin_state_up": True,
            "distributed": distributed,
            "external_gateway_info": {
                "network_id": EXT, "enable_snat": True,
                "external_fixed_ips": [{"subnet_id": "sx", "ip_address": "203.0.113.10"}],
            },
            "routes": [],
        }  # fmt: skip
        self.ports: dict[str, Any] = {
            A: s.port(A, s.NET1, "fa:16:3e:00:00:0a", self.a, [("s1", "10.0.1.11")]),
            B: s.port(B, s.NET2, "fa:16:3e:00:00:0b", self.b, [("s2", "10.0.2.12")]),
            D: s.port(D, s.NET2, "fa:16:3e:00:00:0d", self.a, [("s2", "10.0.2.13")]),
            I1: rport(I1, s.NET1, "fa:16:3e:00:01:01", ("s1", "10.0.1.1"), owner, where),
            I2: rport(I2, s.NET2, "fa:16:3e:00:02:01", ("s2", "10.0.2.1"), owner, where),
            GW: rport(GW, EXT, "fa:16:3e:00:09:09", ("sx", "203.0.113.10"),
                      "network:router_gateway", self.c),
        }  # fmt: skip
        if distributed:
            snat = "network:router_centralized_snat"
            self.ports[C1] = rport(
                C1, s.NET1, "fa:16:3e:00:01:02", ("s1", "10.0.1.2"), snat, self.c
            )
            self.ports[C2] = rport(
                C2, s.NET2, "fa:16:3e:00:02:02", ("s2", "10.0.2.2"), snat, self.c
            )
        self.fips: dict[str, Any] = {}
        self.planes: dict[str, Dataplane] = {}
        self.scopes: dict[str, str] = {}
        """Network id -> its IPv4 address scope."""

    def _scope(self, network_id: str) -> dict[str, str]:
        scope = self.scopes.get(network_id)
        return {"ipv4_address_scope": scope} if scope else {}

    def view(self) -> ClusterView:
        return ClusterView.from_bodies(
            [
                s.network(s.NET1, seg=101, **self._scope(s.NET1)),
                s.network(s.NET2, seg=102, **self._scope(s.NET2)),
                s.network(
                    EXT,
                    kind="flat",
                    seg=None,
                    **{"provider:physical_network": "external"},
                    **self._scope(EXT),
                ),
            ],
            [
                s.subnet("s1", s.NET1, "10.0.1.0/24", "10.0.1.1"),
                s.subnet("s2", s.NET2, "10.0.2.0/24", "10.0.2.1"),
                s.subnet("s16", s.NET1, "2001:db8:1::/64", "2001:db8:1::1"),
                s.subnet("s26", s.NET2, "2001:db8:2::/64", "2001:db8:2::1"),
                s.subnet("sx", EXT, "203.0.113.0/24", UPSTREAM),
            ],
            self.ports.values(),
            self.lab.agent_bodies(),
            (),
            [{**self.router, "kumo_ports": s.router_ports(R, self.ports.values())}],
            self.fips.values(),
        )

    def apply(self) -> None:
        view = self.view()
        for host, ns in self.lab.hosts.items():
            dp = self.planes.get(host) or Dataplane.for_host(host, ns)
            self.planes[host] = dp
            result = dp.converge(compile_host(host, view), timeout=10)
            assert result.ok, result.errors

    def dual_stack(self) -> None:
        """IPv6 on both subnets: the interfaces and A, B get addresses there too."""
        for pid, sub, ip in (
            (I1, "s16", "2001:db8:1::1"),
            (I2, "s26", "2001:db8:2::1"),
            (A, "s16", "2001:db8:1::11"),
            (B, "s26", "2001:db8:2::12"),
        ):
            self.ports[pid]["fixed_ips"].append({"subnet_id": sub, "ip_address": ip})
        self.apply()

    def associate(self, port_id: str, fixed: str) -> None:
        self.fips[FIP] = {"id": FIP, "floating_ip_address": "203.0.113.50",
                          "floating_network_id": EXT, "router_id": R,
                          "port_id": port_id, "fixed_ip_address": fixed}  # fmt: skip
        self.apply()

    def run(self, port_id: str, *cmd: str, timeout: float = 10) -> bool:
        host = str(self.ports[port_id]["binding:host_id"])
        ns = n.instance_netns(host, port_id)
        return sh("ip", "netns", "exec", ns, *cmd, check=False, timeout=timeout).returncode == 0

    def ping(self, port_id: str, ip: str, count: int = 1) -> bool:
        family = ["-6"] if ":" in ip else []
        return self.run(port_id, "busybox", "ping", *family, "-c", str(count), "-W", "1", ip)

    def upstream_ping(self, ip: str) -> bool:
        done = sh("ip", "netns", "exec", self.lab.upstream, "busybox", "ping", "-c", "1", "-W", "1",
                  ip, check=False)  # fmt: skip
        return done.returncode == 0

    def close(self) -> None:
        for host, dp in self.planes.items():
            dp.apply(HostPlan(host=host))
            dp.close()


@pytest.fixture
def lab() -> Iterator[ExternalLab]:
    lab = ExternalLab()
    try:
        yield lab.start(3)
    finally:
        lab.close()


def connect(ip: str, port: int = 8080) -> list[str]:
    probe = f"import socket; socket.create_connection(({ip!r}, {port}), timeout=2)"
    return [sys.executable, "-c", probe]


@contextlib.contextmanager
def listening(prefix: list[str], port: int = 8080) -> Iterator[None]:
    """A TCP listener (busybox httpd) in a namespace for the block."""
    proc = subprocess.Popen([*prefix, "busybox", "httpd", "-f", "-p", str(port), "-h", "/"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        time.sleep(0.3)
        yield
    finally:
        proc.kill()
        proc.wait(timeout=10)


def _upstream_sources(lab: ExternalLab, action: Any) -> list[str]:
    """Source addresses of the ICMP packets the upstream receives during ``action``."""
    proc = subprocess.Popen(
        ["ip", "netns", "exec", lab.upstream, "tcpdump", "-i", "eth0", "-n", "-l", "-p",
         "icmp[icmptype] == icmp-echo"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert proc.stderr is not None
    while "listening" not in proc.stderr.readline():
        pass
    action()
    time.sleep(0.3)
    proc.terminate()
    out, _ = proc.communicate(timeout=10)
    return sorted(
        {line.split(" IP ")[1].split(" > ")[0] for line in out.splitlines() if " IP " in line}
    )


def in_scope(lab: ExternalLab, r: Routed) -> None:
    """s1 and the external network in one address scope: s1 goes out
    untranslated and its replies come back routed (the upstream routes s1
    to the router); s2, outside the scope, is still translated."""
    sh("ip", "-n", lab.upstream, "route", "replace", "10.0.1.0/24", "via", "203.0.113.10")
    r.scopes = {s.NET1: "scope-1", EXT: "scope-1"}
    r.apply()
    assert _upstream_sources(lab, lambda: r.ping(A, UPSTREAM)) == ["10.0.1.11"]
    assert r.ping(A, UPSTREAM)
    assert _upstream_sources(lab, lambda: r.ping(B, UPSTREAM)) == ["203.0.113.10"]
    with listening(["ip", "netns", "exec", lab.upstream]):
        assert r.run(A, *connect(UPSTREAM))
    r.scopes = {}
    r.apply()
    assert _upstream_sources(lab, lambda: r.ping(A, UPSTREAM)) == ["203.0.113.10"]


def test_distributed_router(lab: ExternalLab) -> None:
    r = Routed(lab)
    try:
        r.apply()
        # east-west across hosts and subnets, and on one host
        assert r.ping(A, "10.0.2.12")
        assert r.ping(A, "10.0.2.13")
        assert r.ping(B, "10.0.1.11")
        # ... without the gateway host seeing any of it
        capture = Capture(lab.hosts[r.c], "udp port 4789")
        assert r.ping(A, "10.0.2.12", count=3)
        assert capture.stop() == []
        # ... and no gateway ARP or gateway-MAC frame on the underlay
        capture = Capture(lab.hosts[r.a], "arp or ether host fa:16:3e:00:01:01 "
                          "or ether host fa:16:3e:00:02:01")  # fmt: skip
        r.run(A, "ip", "neigh", "flush", "all")
        assert r.ping(A, "10.0.2.12")
        assert capture.stop() == []

        # IPv6 east-west through the same distributed router, no NAT
        r.dual_stack()
        assert r.ping(A, "2001:db8:2::12")
        assert r.ping(B, "2001:db8:1::11")

        # SNAT through the gateway host, as the router's external IP
        assert _upstream_sources(lab, lambda: r.ping(A, UPSTREAM)) == ["203.0.113.10"]
        # ... TCP too
        with listening(["ip", "netns", "exec", lab.upstream]):
            assert r.run(A, *connect(UPSTREAM))
        in_scope(lab, r)

        # a floating IP on B's host: reachable from the upstream, and B goes out as it
        r.associate(B, "10.0.2.12")
        assert r.upstream_ping("203.0.113.50")
        assert _upstream_sources(lab, lambda: r.ping(B, UPSTREAM)) == ["203.0.113.50"]
        with listening(["ip", "netns", "exec", n.instance_netns(r.b, B)]):
            assert sh("ip", "netns", "exec", lab.upstream, *connect("203.0.113.50"),
                      check=False).returncode == 0  # fmt: skip
        # the gateway host carries none of the floating IP's traffic
        capture = Capture(lab.hosts[r.c], "udp port 4789")
        assert r.upstream_ping("203.0.113.50")
        assert capture.stop() == []

        # re-associated to A on another host: moves (gratuitous ARP)
        started = time.monotonic()
        r.associate(A, "10.0.1.11")
        while not r.upstream_ping("203.0.113.50") and time.monotonic() - started < 5:
            pass
        assert time.monotonic() - started < 2.5
        assert _upstream_sources(lab, lambda: r.ping(A, UPSTREAM)) == ["203.0.113.50"]
        assert _upstream_sources(lab, lambda: r.ping(B, UPSTREAM)) == ["203.0.113.10"]

        # an extra route: 10.9.0.0/24 via D (on s2)
        r.router = {**r.router, "routes": [{"destination": "10.9.0.0/24", "nexthop": "10.0.2.13"}]}
        r.apply()
        assert r.run(D, "ip", "addr", "add", "10.9.0.1/32", "dev", "lo")
        assert r.run(D, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0")
        assert r.ping(A, "10.9.0.1")

        # the s2 interface goes: s1 no longer reaches s2, anywhere
        del r.ports[I2], r.ports[C2]
        r.apply()
        assert not r.ping(A, "10.0.2.12")
        assert not r.ping(A, "10.0.2.13")
        assert r.ping(A, UPSTREAM)
    finally:
        r.close()
    assert not [ns for ns in lab.instance_netns_left()]
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not [x for x in listed.split() if any(n.is_router_netns(x, h) for h in lab.hosts)]


def test_distributed_router_sends_instances_no_redirects(lab: ExternalLab) -> None:
    """SNAT traffic leaves the router by the leg it came in on (to the SNAT
    port on the same subnet): the kernel would answer with an ICMP redirect
    to the SNAT port, which the instance would then use for the
    destination, bypassing its router."""
    r = Routed(lab)
    try:
        r.apply()
        ns = n.instance_netns(r.a, A)
        capture = Capture(ns, "icmp[icmptype] == icmp-redirect")
        assert r.ping(A, UPSTREAM, count=3)
        assert capture.stop() == []
        cache = sh("ip", "netns", "exec", ns, "ip", "route", "show", "cache").stdout
        assert "redirected" not in cache and "10.0.1.2" not in cache
        route = sh("ip", "netns", "exec", ns, "ip", "route", "get", UPSTREAM).stdout
        assert "via 10.0.1.1 " in route, route
        router_ns = n.router_netns(r.a, R)
        for conf in ("all", "default", n.router_if_name(I1), n.router_if_name(I2)):
            path = f"/proc/sys/net/ipv4/conf/{conf}/send_redirects"
            assert sh("ip", "netns", "exec", router_ns, "cat", path).stdout.strip() == "0", conf
    finally:
        r.close()


def test_centralized_router(lab: ExternalLab) -> None:
    r = Routed(lab, distributed=False)
    try:
        r.apply()
        assert r.ping(A, "10.0.2.12")
        # east-west crosses the gateway host
        capture = Capture(lab.hosts[r.c], "udp port 4789")
        assert r.ping(A, "10.0.2.12", count=2)
        assert len(capture.stop()) >= 4
        assert _upstream_sources(lab, lambda: r.ping(A, UPSTREAM)) == ["203.0.113.10"]
        in_scope(lab, r)
        r.associate(B, "10.0.2.12")
        assert r.upstream_ping("203.0.113.50")
        assert _upstream_sources(lab, lambda: r.ping(B, UPSTREAM)) == ["203.0.113.50"]
    finally:
        r.close()
