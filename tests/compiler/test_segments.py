"""Routed provider networks: each host wires the segment it serves."""

from __future__ import annotations

from kumo.compiler import ClusterView, compile_host
from kumo.compiler.model import HostView, NetworkView
from tests.compiler import states as s

SEGMENTS = [
    {"provider:network_type": "vlan", "provider:physical_network": "rack1",
     "provider:segmentation_id": 201},
    {"provider:network_type": "vlan", "provider:physical_network": "rack2",
     "provider:segmentation_id": 202},
]  # fmt: skip


def _routed() -> ClusterView:
    net = s.network(s.NET1, kind="vlan", seg=201, kumo_segments=SEGMENTS)
    net["provider:physical_network"] = "rack1"
    subnets = [
        s.subnet("s1", s.NET1, "10.70.1.0/24", "10.70.1.1", segment_id="g1"),
        s.subnet("s2", s.NET1, "10.70.2.0/24", "10.70.2.1", segment_id="g2"),
    ]
    ports = [
        s.port(s.P1, s.NET1, "fa:16:3e:00:00:01", "host-a", [("s1", "10.70.1.5")]),
        s.port(s.P2, s.NET1, "fa:16:3e:00:00:02", "host-b", [("s2", "10.70.2.5")]),
    ]
    agents = [
        s.agent("host-a", "192.0.2.11", bridge_mappings={"rack1": "eth1"}),
        s.agent("host-b", "192.0.2.12", bridge_mappings={"rack2": "eth3"}),
    ]
    return ClusterView.from_bodies([net], subnets, ports, agents)


def test_each_host_puts_its_ports_on_its_own_segment() -> None:
    view = _routed()
    a = compile_host("host-a", view, vlan_devices=True)
    b = compile_host("host-b", view, vlan_devices=True)
    (vlan_a,) = [x for x in a.links if x.kind == "vlan"]
    (vlan_b,) = [x for x in b.links if x.kind == "vlan"]
    assert (vlan_a.parent, vlan_a.vlan_id) == ("eth1", 201)
    assert (vlan_b.parent, vlan_b.vlan_id) == ("eth3", 202)


def test_a_network_with_one_segment_is_wired_as_before() -> None:
    net = NetworkView.from_body(s.network(s.NET1, kind="vlan", seg=42))
    me = HostView("host-a", None, (("physnet1", "eth1"),))
    assert net.on_host(me) is net
    routed = NetworkView.from_body(s.network(s.NET1, kind="vlan", seg=201, kumo_segments=SEGMENTS))
    # a host serving none of the segments keeps the first (it has no port there)
    assert routed.on_host(HostView("host-c", None, ())) is routed
    rack2 = routed.on_host(HostView("host-b", None, (("rack2", "eth3"),)))
    assert (rack2.physical_network, rack2.segmentation_id) == ("rack2", 202)
