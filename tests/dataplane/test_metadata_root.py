"""The metadata service on the real kernel: two servers on two networks
with the SAME CIDR and the same address on one host each read their own
``meta_data.json`` from 169.254.169.254 with busybox wget (one configured
by DHCP, whose lease carries the on-link route, one statically), never the
other's; nothing reaches the underlay meanwhile (tcpdump); namespaces that
leave the plan lose their socket and are removed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from kumo.compiler import ClusterView, HostPlan, compile_host
from kumo.compiler import names as n
from kumo.dataplane.driver import Dataplane
from kumo.dhcp.responder import Responder
from kumo.metadata.server import MetadataServer
from tests.compiler import states as s
from tests.dataplane.rootlab import RootLab, sh

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(shutil.which("tcpdump") is None, reason="needs tcpdump"),
]

SERVER1 = "5e1f0000-0000-4000-8000-000000000001"
SERVER2 = "5e1f0000-0000-4000-8000-000000000002"


class Source:
    def server(self, server_id: str, port_id: str) -> Mapping[str, Any] | None:
        if server_id not in (SERVER1, SERVER2):
            return None
        return {"id": server_id, "name": f"vm-{server_id[-1]}", "metadata": {"n": server_id[-1]}}

    def public_key(self, server: Mapping[str, Any], port_id: str) -> str | None:
        return None


class Cluster:
    def __init__(self, lab: RootLab) -> None:
        self.lab = lab
        self.a, self.b = list(lab.hosts)
        self.subnets = [
            s.subnet("s1", s.NET1, "10.0.0.0/24", "10.0.0.1", enable_dhcp=True),
            s.subnet("s2", s.NET2, "10.0.0.0/24", "10.0.0.1"),  # static
        ]
        self.ports = {
            s.P1: s.port(s.P1, s.NET1, "fa:16:3e:00:00:01", self.a, [("s1", "10.0.0.11")],
                         device_id=SERVER1),
            s.P3: s.port(s.P3, s.NET2, "fa:16:3e:00:00:03", self.a, [("s2", "10.0.0.11")],
                         device_id=SERVER2),
            # a port on another host, so net1 has a tunnel with entries to it
            s.P2: s.port(s.P2, s.NET1, "fa:16:3e:00:00:02", self.b, [("s1", "10.0.0.12")],
                         owner="compute:lab"),
        }  # fmt: skip
        self.planes = {h: Dataplane.for_host(h, ns) for h, ns in lab.hosts.items()}
        self.responder = Responder(lab.hosts[self.a])
        self.responder.start()
        self.metadata = MetadataServer(Source())
        self.metadata.start()

    def apply(self) -> HostPlan:
        view = ClusterView.from_bodies(
            [s.network(s.NET1, seg=101), s.network(s.NET2, seg=102)],
            self.subnets,
            self.ports.values(),
            self.lab.agent_bodies(),
        )
        plans = {h: compile_host(h, view) for h in self.planes}
        self.responder.update(plans[self.a].dhcp)
        self.metadata.update(plans[self.a].metadata, view)
        for host, dp in self.planes.items():
            assert dp.apply(plans[host]).ok
        self.metadata.ensure()
        return plans[self.a]

    def wget(self, port_id: str, path: str) -> subprocess.CompletedProcess[str]:
        ns = n.instance_netns(self.a, port_id)
        return sh("ip", "netns", "exec", ns, "timeout", "10", "busybox", "wget", "-qO-",
                  f"http://169.254.169.254{path}", check=False, timeout=15)  # fmt: skip

    def close(self) -> None:
        self.metadata.stop()
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
        for name in os.listdir("/run/netns"):
            if any(n.is_metadata_netns(name, h) for h in lab.hosts):
                sh("ip", "netns", "del", name, check=False)
        lab.close()


def _wait(what: str, check: Any, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_each_instance_reads_its_own_metadata_and_nothing_crosses(cluster: Cluster) -> None:
    c = cluster
    plan = c.apply()
    assert len(plan.metadata) == 2
    ns1 = n.instance_netns(c.a, s.P1)
    _wait("no DHCP lease", lambda: "10.0.0.11/" in sh("ip", "-n", ns1, "-4", "addr").stdout)
    routes = sh("ip", "-n", ns1, "-4", "route").stdout
    assert "169.254.169.254 dev eth0" in routes and "default via 10.0.0.1" in routes
    _wait("not listening", lambda: c.metadata.listening == {e.netns for e in plan.metadata})

    dump = subprocess.Popen(
        ["ip", "netns", "exec", c.lab.hosts[c.a], "tcpdump", "-i", "eth0", "-n", "-l",
         "--immediate-mode", "udp port 4789"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(1.0)  # tcpdump is listening
        for port_id, server_id in ((s.P1, SERVER1), (s.P3, SERVER2)):
            got = c.wget(port_id, "/openstack/latest/meta_data.json")
            assert got.returncode == 0, got.stderr
            meta = json.loads(got.stdout)
            assert meta["uuid"] == server_id and meta["meta"] == {"n": server_id[-1]}
            ec2 = c.wget(port_id, "/latest/meta-data/local-ipv4")
            assert ec2.stdout == "10.0.0.11"
        assert c.wget(s.P1, "/openstack/latest/nothing").returncode != 0  # 404
        time.sleep(0.5)
    finally:
        dump.terminate()
        out, _ = dump.communicate(timeout=10)
    assert out.strip() == "", f"crossed the underlay:\n{out}"

    # the network leaves the host: its socket closes, its namespace goes
    gone = next(e.netns for e in plan.metadata if e.network_id == s.NET2)
    del c.ports[s.P3]
    plan = c.apply()
    assert gone not in c.metadata.listening and gone not in os.listdir("/run/netns")
    assert [e.network_id for e in plan.metadata] == [s.NET1]
    # the kernel tears a removed namespace's veth peers down asynchronously
    deadline = time.monotonic() + 5
    while sh("ip", "-n", c.lab.hosts[c.a], "link", "show", n.metadata_port_name(s.NET2),
             check=False).stdout and time.monotonic() < deadline:  # fmt: skip
        time.sleep(0.05)
    assert not sh("ip", "-n", c.lab.hosts[c.a], "link", "show", n.metadata_port_name(s.NET2),
                  check=False).stdout  # fmt: skip
