"""DNS and metadata for an IPv6-only instance on the real kernel: instance A
(host a) on a dhcpv6-stateless subnet with no IPv4 at all hears its host's
resolver, fe80::a9fe:a9fe, named in the router advertisement (RDNSS, with
the domain as DNSSL) and in the DHCPv6 reply its own ``dhclient -6 -S``
writes to resolv.conf; it resolves instance B (host b) to B's IPv6 address
(AAAA) through it, with busybox nslookup and glibc, not another project's
name; and it reads its ``meta_data.json`` from
http://[fe80::a9fe:a9fe%eth0]/. Nothing of it crosses the tunnel (tcpdump
on host a's underlay). Instance C, dual-stack on a SLAAC subnet (no
DHCPv6) and a DHCPv4 one, gets the IPv6 resolver from the advertisements
alone (its RDNSS reader) beside the IPv4 one from its lease, and asks the
IPv6 one for its own A and AAAA records."""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from kumo.compiler import ClusterView, HostPlan, compile_host
from kumo.compiler import names as n
from kumo.dataplane import netns
from kumo.dataplane.driver import Dataplane
from kumo.dhcp.responder import Responder
from kumo.dns.server import Resolver
from kumo.metadata.server import MetadataServer
from tests.compiler import states as s
from tests.dataplane.rootlab import RootLab, sh

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(shutil.which("busybox") is None, reason="needs busybox"),
    pytest.mark.skipif(shutil.which("dhclient") is None, reason="needs dhclient"),
    pytest.mark.skipif(shutil.which("tcpdump") is None, reason="needs tcpdump"),
]

SERVER = "5e1f0000-0000-4000-8000-00000000000a"
RESOLVER = "fe80::a9fe:a9fe"
ADDR_A = "2001:db8:6:0:f816:3eff:fe00:1"
ADDR_B = "2001:db8:6:0:f816:3eff:fe00:2"
ADDR_C = "2001:db8:7:0:f816:3eff:fe00:4"


class Source:
    def server(self, server_id: str, port_id: str) -> Mapping[str, Any] | None:
        return {"id": server_id, "name": "vma", "metadata": {}} if server_id == SERVER else None

    def public_key(self, server: Mapping[str, Any], port_id: str) -> str | None:
        return None


def _dns(ip: str, name: str) -> list[dict[str, str]]:
    return [{"hostname": name, "ip_address": ip, "fqdn": f"{name}.openstacklocal."}]


class Cluster:
    def __init__(self, lab: RootLab) -> None:
        self.lab = lab
        self.a, self.b = list(lab.hosts)
        mode = "dhcpv6-stateless"
        self.subnet = s.subnet("s6", s.NET1, "2001:db8:6::/64", None,
                               ipv6_ra_mode=mode, ipv6_address_mode=mode)  # fmt: skip
        mac = "fa:16:3e:00:00:0"
        self.ports = [
            s.port(s.P1, s.NET1, mac + "1", self.a, [("s6", ADDR_A)], project_id="alice",
                   device_id=SERVER, dns_assignment=_dns(ADDR_A, "vma")),
            s.port(s.P2, s.NET1, mac + "2", self.b, [("s6", ADDR_B)], project_id="alice",
                   owner="compute:lab", dns_assignment=_dns(ADDR_B, "vmb")),
            s.port(s.P3, s.NET1, mac + "3", self.b, [("s6", "2001:db8:6::3")], project_id="bob",
                   owner="compute:lab", dns_assignment=_dns("2001:db8:6::3", "secret")),
            # dual-stack, SLAAC and DHCPv4: IPv6 DNS from the advertisements alone
            s.port(s.P4, s.NET2, mac + "4", self.a, [("s7", ADDR_C), ("s4", "10.7.0.4")],
                   project_id="alice", owner="compute:lab",
                   dns_assignment=_dns(ADDR_C, "vmc") + _dns("10.7.0.4", "vmc")),
        ]  # fmt: skip
        self.planes = {h: Dataplane.for_host(h, ns) for h, ns in lab.hosts.items()}
        self.responder = Responder(lab.hosts[self.a])
        self.responder.start()
        self.resolver = Resolver()
        self.resolver.start()
        self.metadata = MetadataServer(Source())
        self.metadata.start()

    def apply(self) -> HostPlan:
        slaac = s.subnet("s7", s.NET2, "2001:db8:7::/64", None,
                         ipv6_ra_mode="slaac", ipv6_address_mode="slaac")  # fmt: skip
        view = ClusterView.from_bodies(
            [s.network(s.NET1, seg=101), s.network(s.NET2, seg=102)],
            [
                self.subnet,
                slaac,
                s.subnet("s4", s.NET2, "10.7.0.0/24", "10.7.0.1", enable_dhcp=True),
            ],
            self.ports,
            self.lab.agent_bodies(),
        )
        plans = {h: compile_host(h, view) for h in self.planes}
        plan = plans[self.a]
        self.responder.update(plan.dhcp, plan.adverts, plan.dhcp6)
        self.resolver.update(plans[self.a].dns)
        self.metadata.update(plans[self.a].metadata, view)
        for host, dp in self.planes.items():
            assert dp.apply(plans[host]).ok
        self.resolver.ensure()
        self.metadata.ensure()
        return plans[self.a]

    @property
    def ns(self) -> str:
        return n.instance_netns(self.a, s.P1)

    def run(self, *cmd: str, port: str = s.P1) -> subprocess.CompletedProcess[str]:
        ns = n.instance_netns(self.a, port)
        return sh("ip", "netns", "exec", ns, "timeout", "10", *cmd, check=False, timeout=15)

    def close(self) -> None:
        self.metadata.stop()
        self.resolver.stop()
        self.responder.stop()
        for host, dp in self.planes.items():
            dp.apply(HostPlan(host=host))
            dp.close()


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    lab = RootLab()
    c: Cluster | None = None
    try:
        c = Cluster(lab.start())
        yield c
    finally:
        if c is not None:
            c.close()
        lab.close()


def _wait(what: str, check: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def solicit(ns: str) -> dict[int, list[bytes]]:
    """Send a router solicitation from the instance's eth0 and return the
    options (type → bodies) of the advertisement that answers it."""
    sock = netns.socket_in(ns, socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        sock.settimeout(5)
        sock.sendto(struct.pack("!BBHI", 133, 0, 0, 0), ("ff02::2", 0))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            data = sock.recv(2048)
            if data[0] != 134:
                continue
            options: dict[int, list[bytes]] = {}
            i = 16
            while i + 2 <= len(data) and data[i + 1]:
                size = data[i + 1] * 8
                options.setdefault(data[i], []).append(data[i + 2 : i + size])
                i += size
            return options
    finally:
        sock.close()
    raise AssertionError("no router advertisement")


def test_ipv6_only_instance_resolves_and_reads_metadata(cluster: Cluster) -> None:
    c = cluster
    started = time.monotonic()
    plan = c.apply()
    assert {(a.port_id, a.rdnss, a.dnssl) for a in plan.adverts} == {
        (s.P1, (RESOLVER,), ("openstacklocal",)),
        (s.P4, (RESOLVER,), ("openstacklocal",)),
    }

    # DHCPv6 (information-request): option 23 and 24 land in resolv.conf
    resolv = f"/etc/netns/{c.ns}/resolv.conf"
    _wait("no DNS server by DHCPv6", lambda: f"nameserver {RESOLVER}%eth0" in _read(resolv))
    assert "search openstacklocal" in _read(resolv)
    _wait("no SLAAC address", lambda: ADDR_A in c.run("ip", "-6", "addr", "show", "eth0").stdout)

    # the advertisement on the wire: RDNSS names the resolver, DNSSL the domain
    options = solicit(c.ns)
    (rdnss,) = options[25]
    assert socket.inet_ntop(socket.AF_INET6, rdnss[6:22]) == RESOLVER
    (dnssl,) = options[31]
    assert dnssl[6:].rstrip(b"\0") == b"\x0eopenstacklocal"

    dump = subprocess.Popen(
        ["ip", "netns", "exec", c.lab.hosts[c.a], "tcpdump", "-i", "eth0", "-n", "-l",
         "--immediate-mode", "port 53 or port 80 or udp port 4789"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(1.0)  # tcpdump is listening
        got = c.run("busybox", "nslookup", "-type=AAAA", "vmb.openstacklocal", f"{RESOLVER}%eth0")
        assert got.returncode == 0 and ADDR_B in got.stdout, got
        short = c.run("getent", "ahostsv6", "vmb")  # glibc: resolv.conf from DHCPv6
        assert short.returncode == 0 and short.stdout.split()[0] == ADDR_B, short
        assert c.run("getent", "ahostsv6", "secret").returncode != 0  # bob's

        url = f"http://[{RESOLVER}%eth0]/openstack/latest/meta_data.json"
        meta = c.run("busybox", "wget", "-qO-", url)
        assert meta.returncode == 0, meta
        assert json.loads(meta.stdout)["uuid"] == SERVER
        time.sleep(0.5)
    finally:
        dump.terminate()
        out, _ = dump.communicate(timeout=10)
    assert out.strip() == "", f"left the host:\n{out}"

    # dual-stack on SLAAC: the instance's reader of advertisements and its
    # DHCPv4 client each wrote their family's resolver, neither lost the other's
    dual = f"/etc/netns/{n.instance_netns(c.a, s.P4)}/resolv.conf"
    both = ("nameserver 169.254.169.254", f"nameserver {RESOLVER}%eth0", "search openstacklocal")
    _wait("not both resolvers", lambda: all(line in _read(dual) for line in both))
    own = c.run("getent", "ahostsv6", "vmc", port=s.P4)
    assert own.returncode == 0 and own.stdout.split()[0] == ADDR_C, own
    over6 = c.run("busybox", "nslookup", "vmc", f"{RESOLVER}%eth0", port=s.P4)
    assert over6.returncode == 0 and "10.7.0.4" in over6.stdout and ADDR_C in over6.stdout
    assert c.resolver.stats["answered"] >= 2
    print(f"IPv6 DNS and metadata ready and used in {time.monotonic() - started:.1f} s")
