"""The internal resolver on the real kernel: instance A (host a, configured
by DHCP) finds instance B (host b, same network) by name with busybox
nslookup and glibc's getent through the DNS server its lease names
(169.254.169.254, its own host's metadata namespace), and B's address back
by PTR; a name of another project on the same network, a name on another
project's network and an outside name do not resolve, and no DNS query
leaves host a (tcpdump on its underlay)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from kumo.compiler import ClusterView, HostPlan, compile_host
from kumo.compiler import names as n
from kumo.dataplane.driver import Dataplane
from kumo.dhcp.responder import Responder
from kumo.dns.server import Resolver
from tests.compiler import states as s
from tests.dataplane.rootlab import RootLab, sh

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(shutil.which("busybox") is None, reason="needs busybox"),
    pytest.mark.skipif(shutil.which("tcpdump") is None, reason="needs tcpdump"),
]


def _dns(ip: str, name: str) -> list[dict[str, str]]:
    return [{"hostname": name, "ip_address": ip, "fqdn": f"{name}.openstacklocal."}]


class Cluster:
    def __init__(self, lab: RootLab) -> None:
        self.lab = lab
        self.a, self.b = list(lab.hosts)
        mac = "fa:16:3e:00:00:0"
        self.ports = [
            s.port(s.P1, s.NET1, mac + "1", self.a, [("s1", "10.0.0.11")], project_id="alice",
                   dns_assignment=_dns("10.0.0.11", "vma")),
            s.port(s.P2, s.NET1, mac + "2", self.b, [("s1", "10.0.0.12")], project_id="alice",
                   dns_assignment=_dns("10.0.0.12", "vmb")),
            s.port(s.P3, s.NET1, mac + "3", self.b, [("s1", "10.0.0.13")], project_id="bob",
                   dns_assignment=_dns("10.0.0.13", "secret")),
            s.port(s.P4, s.NET2, mac + "4", self.a, [("s2", "10.1.0.14")], project_id="bob",
                   dns_assignment=_dns("10.1.0.14", "hidden")),
        ]  # fmt: skip
        self.planes = {h: Dataplane.for_host(h, ns) for h, ns in lab.hosts.items()}
        self.responder = Responder(lab.hosts[self.a])
        self.responder.start()
        self.resolver = Resolver()
        self.resolver.start()

    def apply(self) -> HostPlan:
        view = ClusterView.from_bodies(
            [s.network(s.NET1, seg=101), s.network(s.NET2, seg=102)],
            [
                s.subnet("s1", s.NET1, "10.0.0.0/24", "10.0.0.1", enable_dhcp=True),
                s.subnet("s2", s.NET2, "10.1.0.0/24", "10.1.0.1", enable_dhcp=True),
            ],
            self.ports,
            self.lab.agent_bodies(),
        )
        plans = {h: compile_host(h, view) for h in self.planes}
        self.responder.update(plans[self.a].dhcp)
        self.resolver.update(plans[self.a].dns)
        for host, dp in self.planes.items():
            assert dp.apply(plans[host]).ok
        self.resolver.ensure()
        return plans[self.a]

    def run(self, *cmd: str) -> subprocess.CompletedProcess[str]:
        ns = n.instance_netns(self.a, s.P1)
        return sh("ip", "netns", "exec", ns, "timeout", "10", *cmd, check=False, timeout=15)

    def close(self) -> None:
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


def _wait(what: str, check: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_instance_resolves_its_projects_names_only(cluster: Cluster) -> None:
    c = cluster
    plan = c.apply()
    assert {z.network_id for z in plan.dns} == {s.NET1, s.NET2}
    ns = n.instance_netns(c.a, s.P1)
    resolv = f"/etc/netns/{ns}/resolv.conf"
    _wait("no lease with the resolver", lambda: "169.254.169.254" in _read(resolv))
    assert "openstacklocal" in _read(resolv)

    dump = subprocess.Popen(
        ["ip", "netns", "exec", c.lab.hosts[c.a], "tcpdump", "-i", "eth0", "-n", "-l",
         "--immediate-mode", "port 53 or udp port 4789"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(1.0)  # tcpdump is listening
        started = time.monotonic()
        got = c.run("busybox", "nslookup", "vmb.openstacklocal", "169.254.169.254")
        took = time.monotonic() - started
        assert got.returncode == 0 and "10.0.0.12" in got.stdout, got
        short = c.run("getent", "hosts", "vmb")  # glibc, resolv.conf from the lease
        assert short.returncode == 0 and short.stdout.split()[0] == "10.0.0.12", short
        back = c.run("busybox", "nslookup", "10.0.0.12", "169.254.169.254")
        assert "vmb.openstacklocal" in back.stdout, back
        for name in ("secret", "secret.openstacklocal", "hidden.openstacklocal", "example.com"):
            miss = c.run("busybox", "nslookup", name, "169.254.169.254")
            assert miss.returncode != 0, (name, miss)
            assert "10.0.0.13" not in miss.stdout and "10.1.0.14" not in miss.stdout
            assert c.run("getent", "hosts", name).returncode != 0
        time.sleep(0.5)
    finally:
        dump.terminate()
        out, _ = dump.communicate(timeout=10)
    assert out.strip() == "", f"left the host:\n{out}"
    assert c.resolver.stats["answered"] >= 6
    print(f"nslookup through the resolver: {took * 1000:.0f} ms")

    # the network leaves host a: its zone's socket closes, its namespace goes
    c.ports = [p for p in c.ports if p["id"] != s.P4]
    plan = c.apply()
    assert {z.network_id for z in plan.dns} == {s.NET1}


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""
