"""compile_trunks: a subport's frames ride its parent's device tagged with
its VLAN id (a veth pair into the subport's bridge, two tc programs)."""

from __future__ import annotations

from typing import Any

from kumo.compiler import ClusterView, compile_host, names
from kumo.compiler.plan import HOST_NS, TcProgram
from tests.compiler import states as s


def _sub(pid: str, nid: str, mac: str, host: str, vid: int, parent: str = s.P1) -> Any:
    trunk = {"trunk_id": "t1", "parent_port_id": parent, "segmentation_id": vid}
    return s.port(pid, nid, mac, host, [], owner="trunk:subport", kumo_trunk=trunk,
                  port_security_enabled=True)  # fmt: skip


def view(*, parent_host: str = "host-a", parent_owner: str = "compute:nova") -> ClusterView:
    ports = [
        s.port(s.P1, s.NET1, "fa:16:3e:00:00:01", parent_host, [("s1", "10.0.0.11")],
               owner=parent_owner),
        _sub(s.P2, s.NET2, "fa:16:3e:00:00:02", parent_host, 100),
        _sub(s.P3, s.NET2, "fa:16:3e:00:00:03", parent_host, 200),
        s.port(s.P4, s.NET2, "fa:16:3e:00:00:04", "host-b", [("s2", "10.1.0.14")]),
    ]  # fmt: skip
    return ClusterView.from_bodies(
        [s.network(s.NET1, seg=101), s.network(s.NET2, seg=102)],
        [s.subnet("s1", s.NET1, "10.0.0.0/24", "10.0.0.1"),
         s.subnet("s2", s.NET2, "10.1.0.0/24", "10.1.0.1")],
        ports, s.AGENTS, [],
    )  # fmt: skip


def test_subports_wired_on_the_parents_device() -> None:
    plan = compile_host("host-a", view())
    parent = names.tap_name(s.P1)
    wire2, wire3 = names.trunk_wire_name(s.P2), names.trunk_wire_name(s.P3)
    assert TcProgram(HOST_NS, parent, "vlan-split", ((100, wire2), (200, wire3))) in plan.tc
    assert TcProgram(HOST_NS, wire2, "vlan-push", ((100, parent),)) in plan.tc
    assert TcProgram(HOST_NS, wire3, "vlan-push", ((200, parent),)) in plan.tc
    links = {link.name: link for link in plan.links}
    end = links[names.tap_name(s.P2)]
    assert end.master == names.bridge_name(s.NET2) and end.peer is None
    assert links[wire2].peer is not None and links[wire2].peer.name == end.name
    assert links[wire2].master is None
    # the subport's network is on the host (bridge, VXLAN toward host-b's port)
    assert names.bridge_name(s.NET2) in links and names.vxlan_name(s.NET2) in links
    # no namespace of their own; wired (reported ACTIVE) with the programs in place
    assert {i.port_id for i in plan.instances} == {s.P1}
    wired = {w.port_id: w for w in plan.wiring}
    assert ("tc", HOST_NS, parent) in wired[s.P2].requires
    # filtered as the parent's instance ports are, on their bridge-side device
    assert {f.port_id for f in plan.firewall.ports} >= {s.P2, s.P3}


def test_nothing_without_a_local_instance_parent() -> None:
    for plan in (
        compile_host("host-a", view(parent_host="host-b")),
        compile_host("host-a", view(parent_owner="network:dhcp")),
    ):
        assert not any(p.kind == "vlan-split" for p in plan.tc)
        assert not any(link.name.startswith(names.TRUNK_WIRE_PREFIX) for link in plan.links)
        assert {w.port_id for w in plan.wiring} & {s.P2, s.P3} == set()


def test_removing_a_subport_narrows_the_split_program() -> None:
    plan = compile_host("host-a", ClusterView.from_bodies(
        [s.network(s.NET1, seg=101), s.network(s.NET2, seg=102)],
        [s.subnet("s1", s.NET1, "10.0.0.0/24", "10.0.0.1"),
         s.subnet("s2", s.NET2, "10.1.0.0/24", "10.1.0.1")],
        [s.port(s.P1, s.NET1, "fa:16:3e:00:00:01", "host-a", [("s1", "10.0.0.11")]),
         _sub(s.P2, s.NET2, "fa:16:3e:00:00:02", "host-a", 100)],
        s.AGENTS, [],
    ))  # fmt: skip
    parent = names.tap_name(s.P1)
    split = next(p for p in plan.tc if p.ifname == parent)
    assert split.vlans == ((100, names.trunk_wire_name(s.P2)),)
    assert names.trunk_wire_name(s.P3) not in {link.name for link in plan.links}
