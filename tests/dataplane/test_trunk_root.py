"""Root test of trunks on the real kernel: two hosts (namespaces) on an
underlay. The parent port's instance is on host A; its subport (VLAN 100,
its own MAC and network) is carried on the parent's device. The instance
makes a VLAN subinterface of its eth0 with the subport's MAC and address
and reaches an instance of the subport's network on host B, while its
untagged traffic still reaches its own network; taking the subport off
the trunk stops the tagged traffic.

Inside the instance, the subinterface is an 802.1Q device where the
kernel makes them (``ip link add link eth0 name eth0.100 type vlan id
100``); on kernels without them (this machine's), a veth pair whose outer
end tags with kumo's own tc program and a split program on eth0 stand
in for it, as a guest's 802.1Q driver would behave on the wire."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from kumo.compiler import ClusterView, HostPlan, compile_host
from kumo.compiler import names as n
from kumo.dataplane import vlan_programs
from kumo.dataplane.driver import Dataplane
from kumo.dataplane.kernel import KernelAdapter, vlan_devices_supported
from tests.compiler import states as s
from tests.dataplane.rootlab import RootLab, sh

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]

VID = 100
SUB_MAC = "fa:16:3e:00:00:02"


def vlan_subinterface(adapter: KernelAdapter, ns: str, vid: int, mac: str, cidr: str) -> str:
    """A VLAN subinterface of eth0 in namespace ``ns`` with ``mac`` and
    ``cidr``: an 802.1Q device where the kernel makes them, else a veth
    pair whose outer end tags (kumo's push program) and a split program on
    eth0 (tagged frames of ``vid`` to it, untagged ones pass)."""
    if vlan_devices_supported():
        dev = f"eth0.{vid}"
        sh("ip", "-n", ns, "link", "add", "link", "eth0", "name", dev, "type", "vlan",
           "id", str(vid))  # fmt: skip
    else:
        dev, outer = f"v{vid}", f"v{vid}o"
        sh("ip", "-n", ns, "link", "add", outer, "type", "veth", "peer", "name", dev)
        sh("ip", "-n", ns, "link", "set", outer, "up")
        idx = {x.name: x.index for x in adapter.links_named(ns, frozenset({"eth0", outer}))}
        push = vlan_programs.push_program(vid, idx["eth0"])
        split = vlan_programs.split_program(((vid, idx[outer]),))
        adapter.attach_tc(ns, outer, vlan_programs.fingerprint("vlan-push", push), push)
        adapter.attach_tc(ns, "eth0", vlan_programs.fingerprint("vlan-split", split), split)
    sh("ip", "-n", ns, "link", "set", dev, "address", mac, "mtu", "1400", "up")
    sh("ip", "-n", ns, "addr", "add", cidr, "dev", dev)
    return dev


class Trunked:
    def __init__(self, lab: RootLab) -> None:
        self.lab = lab
        self.a, self.b = list(lab.hosts)
        trunk = {"trunk_id": "t1", "parent_port_id": s.P1, "segmentation_id": VID}
        self.ports: dict[str, dict[str, Any]] = {
            s.P1: s.port(s.P1, s.NET1, "fa:16:3e:00:00:01", self.a, [("s1", "10.0.0.11")],
                         owner="compute:lab"),
            s.P2: s.port(s.P2, s.NET2, SUB_MAC, self.a, [("s2", "10.1.0.12")],
                         owner="trunk:subport", kumo_trunk=trunk),
            s.P3: s.port(s.P3, s.NET2, "fa:16:3e:00:00:03", self.b, [("s2", "10.1.0.13")],
                         owner="compute:lab"),
            s.P4: s.port(s.P4, s.NET1, "fa:16:3e:00:00:04", self.b, [("s1", "10.0.0.14")],
                         owner="compute:lab"),
        }  # fmt: skip
        self.planes: dict[str, Dataplane] = {}
        self.plans: dict[str, HostPlan] = {}
        self.adapter = KernelAdapter(None)

    def apply(self) -> None:
        view = ClusterView.from_bodies(
            [s.network(s.NET1, seg=101), s.network(s.NET2, seg=102)],
            [s.subnet("s1", s.NET1, "10.0.0.0/24", "10.0.0.1"),
             s.subnet("s2", s.NET2, "10.1.0.0/24", "10.1.0.1")],
            self.ports.values(), self.lab.agent_bodies(), [],
        )  # fmt: skip
        for host, ns in self.lab.hosts.items():
            dp = self.planes.get(host) or Dataplane.for_host(host, ns)
            self.planes[host] = dp
            self.plans[host] = compile_host(host, view)
            result = dp.apply(self.plans[host])
            assert result.ok, result.errors

    def netns(self, port_id: str) -> str:
        return n.instance_netns(str(self.ports[port_id]["binding:host_id"]), port_id)

    def subinterface(self) -> str:
        """The instance's VLAN subinterface on eth0, with the subport's MAC and address."""
        return vlan_subinterface(self.adapter, self.netns(s.P1), VID, SUB_MAC, "10.1.0.12/24")

    def ping(self, port_id: str, ip: str) -> bool:
        out = sh("ip", "netns", "exec", self.netns(port_id), "busybox", "ping", "-c", "2", "-W",
                 "2", ip, check=False, timeout=15)  # fmt: skip
        return out.returncode == 0

    def close(self) -> None:
        self.adapter.close()
        for host, dp in self.planes.items():
            dp.apply(HostPlan(host=host))
            dp.close()


@pytest.fixture(scope="module")
def trunked() -> Iterator[Trunked]:
    lab = RootLab()
    t: Trunked | None = None
    try:
        t = Trunked(lab.start())
        t.apply()
        yield t
    finally:
        if t is not None:
            t.close()
        lab.close()


def test_tagged_frames_reach_the_subports_network_until_it_is_removed(trunked: Trunked) -> None:
    t = trunked
    t.subinterface()
    assert t.ping(s.P1, "10.1.0.13"), "tagged: instance -> subport network on host B"
    assert t.ping(s.P3, "10.1.0.12"), "host B -> the subport, back tagged"
    assert t.ping(s.P1, "10.0.0.14"), "untagged traffic stays on the parent's network"
    assert not t.ping(s.P4, "10.1.0.12")
    # the agent reports the subport wired: its wiring is in the plan
    assert s.P2 in {w.port_id for w in t.plans[t.a].wiring}
    # removed from the trunk (the API unbinds it): the tagged path goes
    t.ports[s.P2] = {**t.ports[s.P2], "binding:host_id": "", "device_owner": "",
                     "kumo_trunk": None}  # fmt: skip
    t.apply()
    assert not t.ping(s.P1, "10.1.0.13")
    assert t.ping(s.P1, "10.0.0.14")
    host_ns = t.lab.hosts[t.a]
    assert n.trunk_wire_name(s.P2) not in sh("ip", "-n", host_ns, "-o", "link").stdout
