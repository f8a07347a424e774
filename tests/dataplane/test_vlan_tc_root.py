"""Root test on the real kernel: VLAN networks carried by tc programs (no
802.1Q devices), two hosts whose ``eth0`` is the physical network.

Checks: the ping matrix (two VLANs and a flat network with the same CIDR:
reach within each, never across), 802.1Q tags with the right VLAN id on the
segment, full-size frames at the network's MTU, a second apply and an agent
restart changing nothing, a program removed behind kumo's back put back, and
nothing of kumo's left on the physical interface once the VLANs are gone.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from kumo.compiler import ClusterView, compile_host
from kumo.compiler import names as n
from kumo.dataplane.driver import Dataplane
from tests.compiler import states as s
from tests.dataplane.rootlab import RootLab, sh
from tests.dataplane.test_kernel_root import Capture, in_instance, ping

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(shutil.which("tcpdump") is None, reason="needs tcpdump"),
]


@pytest.fixture
def lab() -> Iterator[RootLab]:
    lab = RootLab()
    try:
        yield lab.start()
    finally:
        lab.close()


def cluster(lab: RootLab, *, vlans: bool = True) -> tuple[ClusterView, dict[str, Any]]:
    a, b = list(lab.hosts)
    nets = {s.FLAT: "flat", s.VLAN: "vlan", s.VLAN2: "vlan"}
    seg = {s.FLAT: None, s.VLAN: 100, s.VLAN2: 101}
    layout = {
        s.P1: (s.FLAT, "10.0.0.11", a),
        s.P2: (s.FLAT, "10.0.0.12", b),
        s.P3: (s.VLAN, "10.0.0.21", a),
        s.P4: (s.VLAN, "10.0.0.22", b),
        s.P5: (s.VLAN2, "10.0.0.31", a),
        "a6000000-0000-4000-8000-000000000006": (s.VLAN2, "10.0.0.32", b),
    }
    if not vlans:
        layout = {p: x for p, x in layout.items() if x[0] == s.FLAT}
    ports = [
        s.port(pid, net, f"fa:16:3e:00:00:{i + 1:02x}", host, [(f"sub-{net}", ip)])
        for i, (pid, (net, ip, host)) in enumerate(layout.items())
    ]
    agents = lab.agent_bodies()
    for body in agents:
        conf = body["configurations"]
        assert isinstance(conf, dict)
        conf.update(bridge_mappings={"physnet1": "eth0"}, vlan_devices=False)
    view = ClusterView.from_bodies(
        [s.network(x, kind=kind, seg=seg[x]) for x, kind in nets.items()],
        [s.subnet(f"sub-{x}", x, "10.0.0.0/24", None) for x in nets],
        ports,
        agents,
    )
    return view, layout


def kumo_filters(ns: str, dev: str = "eth0") -> str:
    out = sh("tc", "-n", ns, "filter", "show", "dev", dev, "ingress", check=False).stdout
    return "\n".join(line for line in out.splitlines() if "kumo:" in line)


def test_vlans_by_tc_programs(lab: RootLab) -> None:
    view, layout = cluster(lab)
    planes: dict[str, Dataplane] = {}
    for host, ns in lab.hosts.items():
        planes[host] = Dataplane.for_host(host, ns)
        result = planes[host].apply(compile_host(host, view))
        assert result.ok, result.errors
        assert result.wired_ports == {p for p, (*_, h) in layout.items() if h == host}
        assert "kumo:vlan-split" in kumo_filters(ns)
    for src, (src_net, _, src_host) in layout.items():
        for dst, (dst_net, dst_ip, _) in layout.items():
            if src != dst:
                reached = ping(src_host, src, dst_ip)
                assert reached == (src_net == dst_net), (src, dst_ip, reached)

    a, b = list(lab.hosts)
    # tagged on the segment with the network's VLAN id, at the network's MTU
    tagged = Capture(lab.underlay, "vlan 100 and icmp", ifname="u0", link_level=True)
    big = ("ping", "-c", "1", "-W", "1", "-M", "do", "-s", "1472", "10.0.0.22")
    assert in_instance(a, s.P3, *big)
    lines = tagged.stop()
    assert len(lines) == 2 and all("vlan 100" in x and "length 1518" in x for x in lines), lines
    untagged = Capture(lab.underlay, "icmp and not vlan", ifname="u0", link_level=True)
    assert ping(a, s.P1, "10.0.0.12")
    assert len(untagged.stop()) == 2

    # read back: nothing to change, neither again nor after an agent restart
    for host, ns in lab.hosts.items():
        dp = planes[host]
        dp.resync()
        assert dp.apply(compile_host(host, view)).changes == 0
        dp.close()
        planes[host] = Dataplane.for_host(host, ns)
        assert planes[host].apply(compile_host(host, view)).changes == 0

    # a program removed behind kumo's back comes back on the next full pass
    sh("tc", "-n", lab.hosts[b], "filter", "del", "dev", "eth0", "ingress")
    assert not ping(a, s.P3, "10.0.0.22")
    planes[b].resync()
    result = planes[b].apply(compile_host(b, view))
    assert result.ok and result.changes == 1, result
    assert ping(a, s.P3, "10.0.0.22")

    # the VLANs go: their veths and kumo's program on eth0 with them
    flat_only, _ = cluster(lab, vlans=False)
    for host, ns in lab.hosts.items():
        result = planes[host].apply(compile_host(host, flat_only))
        assert result.ok, result.errors
        assert kumo_filters(ns) == ""
        assert not [x for x in lab.kumo_links(ns) if x.startswith(("kq", "kv"))]
        planes[host].close()
    assert ping(a, s.P1, "10.0.0.12")
    assert n.vlan_wire_name(s.VLAN).startswith("kq")
