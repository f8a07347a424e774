"""Golden tests: compiled plans of named states against plans written out here.

Plans are compared in their normalised text form (``HostPlan.describe()``:
one sorted line per object), so ordering never matters and a failure shows
a readable diff. ``describe`` leaves out the metadata service's objects (its
namespace, leg and on-link routes), which ``test_metadata_endpoint``
checks on its own.
"""

from __future__ import annotations

from dataclasses import replace

from kumo.compiler import ClusterView, compile_host
from kumo.compiler.names import instance_netns, is_instance_netns, is_metadata_netns
from kumo.compiler.plan import HostPlan
from tests.compiler import states as s


def plan_of(state: s.State, host: str = "host-a", **kw: str) -> HostPlan:
    view = ClusterView.from_bodies(state.networks, state.subnets, state.ports, state.agents)
    return compile_host(host, view, **kw)


def describe(plan: HostPlan) -> list[str]:
    """``plan.describe()`` without the metadata service's objects."""
    return [
        line
        for line in plan.describe()
        if " km-" not in line
        and not line.startswith(("link host km", "netns km-"))
        and "169.254.169.254" not in line
    ]


NS1 = instance_netns("host-a", s.P1)
BR1, VX1, TAP1 = "kb1f0e2d3c4b5", "kx1f0e2d3c4b5", "kta1000000000"
VXLAN1 = (
    f"link host {VX1} vxlan mtu 1450 up master {BR1} learning off "
    "vni 101 local 192.0.2.11 dstport 4789 dev eth0 nolearning proxy"
)


def instance_lines(
    ns: str, tap: str, bridge: str, mac: str, mtu: int, up: str = "up", hostname: str = ""
) -> list[str]:
    """An instance's objects; its hostname is its namespace's name unless
    the port's body names one (``kumo_hostname``)."""
    return [
        f"netns {ns}",
        f"link host {tap} veth mtu {mtu} {up} master {bridge} peer {ns}/eth0",
        f"link {ns} eth0 veth mtu {mtu} mac {mac} up",
        f"link {ns} lo device up",
        f"uts {ns} {hostname or ns}",
    ]


def test_empty_host_has_empty_plan() -> None:
    assert plan_of(s.EMPTY) == HostPlan(host="host-a")
    assert describe(plan_of(s.REMOTE_ONLY)) == []


def test_one_local_port() -> None:
    expected = [
        f"link host {BR1} bridge mtu 1450 up",
        VXLAN1,
        *instance_lines(NS1, TAP1, BR1, "fa:16:3e:00:00:01", 1450),
        f"addr {NS1} eth0 10.0.0.11/24",
        f"route {NS1} 0.0.0.0/0 via 10.0.0.1 dev eth0",
    ]
    assert describe(plan_of(s.ONE_LOCAL)) == sorted(expected)


def test_instance_hostname_from_the_watch_body() -> None:
    """The port's ``kumo_hostname`` names the instance's UTS namespace; a
    name that is no valid host name (or none) gives the namespace's name."""
    named = s.ONE_LOCAL.with_("named", ports=())
    body = dict(s.ONE_LOCAL.ports[0], kumo_hostname="web-1")
    plan = plan_of(replace(named, ports=(body,)))
    assert [x for x in describe(plan) if x.startswith("uts ")] == [f"uts {NS1} web-1"]
    assert ("uts", NS1) in next(iter(plan.wiring)).requires
    for bad in ("-web", "web_1", "a" * 64, "web.example", "wéb"):
        plan = plan_of(replace(named, ports=(dict(body, kumo_hostname=bad),)))
        assert [x for x in describe(plan) if x.startswith("uts ")] == [f"uts {NS1} {NS1}"]


def test_remote_port_gets_fdb_and_local_arp_answer() -> None:
    expected = [
        f"link host {BR1} bridge mtu 1450 up",
        VXLAN1,
        *instance_lines(NS1, TAP1, BR1, "fa:16:3e:00:00:01", 1450),
        f"addr {NS1} eth0 10.0.0.11/24",
        f"route {NS1} 0.0.0.0/0 via 10.0.0.1 dev eth0",
        f"fdb host {VX1} fa:16:3e:00:00:02 self dst 192.0.2.12",
        f"fdb host {VX1} fa:16:3e:00:00:02 master static",
        f"neigh host {VX1} 10.0.0.12 fa:16:3e:00:00:02",
    ]
    assert describe(plan_of(s.LOCAL_AND_REMOTE)) == sorted(expected)
    # host-b sees the mirror image
    ns2 = instance_netns("host-b", s.P2)
    plan_b = describe(plan_of(s.LOCAL_AND_REMOTE, "host-b"))
    assert f"fdb host {VX1} fa:16:3e:00:00:01 self dst 192.0.2.11" in plan_b
    assert f"neigh host {VX1} 10.0.0.11 fa:16:3e:00:00:01" in plan_b
    assert f"addr {ns2} eth0 10.0.0.12/24" in plan_b
    assert any(
        line.endswith("local 192.0.2.12 dstport 4789 dev eth0 nolearning proxy") for line in plan_b
    )


def test_two_networks_with_the_same_cidr_stay_apart() -> None:
    plan = plan_of(s.TWO_NETWORKS_SAME_CIDR)
    ns3 = instance_netns("host-a", s.P3)
    br2, vx2 = "kb2a1b0c9d8e7", "kx2a1b0c9d8e7"
    lines = describe(plan)
    assert f"link host {br2} bridge mtu 1450 up" in lines
    assert (
        f"link host {vx2} vxlan mtu 1450 up master {br2} learning off "
        "vni 102 local 192.0.2.11 dstport 4789 dev eth0 nolearning proxy"
    ) in lines
    assert f"link host kta3000000000 veth mtu 1450 up master {br2} peer {ns3}/eth0" in lines
    assert f"addr {ns3} eth0 10.0.0.11/24" in lines
    assert f"fdb host {vx2} fa:16:3e:00:00:04 self dst 192.0.2.12" in lines
    assert f"neigh host {vx2} 10.0.0.12 fa:16:3e:00:00:04" in lines
    # network 1's remote port is only on network 1's devices
    assert f"neigh host {VX1} 10.0.0.12 fa:16:3e:00:00:02" in lines
    assert not any(vx2 in line and "fa:16:3e:00:00:02" in line for line in lines)
    assert len([x for x in plan.netns if is_instance_netns(x.name)]) == 2
    # one metadata namespace per network: the same 10.0.0.0/24 never meets
    assert len([x for x in plan.netns if is_metadata_netns(x.name)]) == 2


def test_dual_stack_host_routes() -> None:
    plan = plan_of(s.DUAL_STACK)
    lines = describe(plan)
    assert f"addr {NS1} eth0 2001:db8::11/64" in lines
    assert f"route {NS1} ::/0 via 2001:db8::1 dev eth0" in lines
    assert f"route {NS1} 172.16.0.0/16 via 10.0.0.254 dev eth0" in lines
    assert f"neigh host {VX1} 2001:db8::13 fa:16:3e:00:00:02" in lines
    assert f"fdb host {VX1} fa:16:3e:00:00:02 self dst 192.0.2.13" in lines
    (instance,) = plan.instances
    assert instance.addresses == ("10.0.0.11/24", "2001:db8::11/64")
    assert instance.gateways == ("10.0.0.1", "2001:db8::1")


def test_provider_networks() -> None:
    ns1, ns2 = instance_netns("host-a", s.P1), instance_netns("host-a", s.P2)
    brf, brv = "kb3c2d1e0f9a8", "kb4d3e2f1a0b9"
    expected = [
        f"link host {brf} bridge mtu 1500 up",
        f"link host ens5 device up master {brf} isolated on",
        f"link host {brv} bridge mtu 1500 up",
        f"link host kv4d3e2f1a0b9 vlan mtu 1500 up master {brv} isolated on vlan 42 parent ens5",
        *instance_lines(ns1, "kta1000000000", brf, "fa:16:3e:00:00:01", 1500),
        *instance_lines(ns2, "kta2000000000", brv, "fa:16:3e:00:00:02", 1500),
        f"addr {ns1} eth0 198.51.100.5/24",
        f"addr {ns2} eth0 203.0.113.5/24",
        f"route {ns1} 0.0.0.0/0 via 198.51.100.1 dev eth0",
    ]
    assert describe(plan_of(s.PROVIDER)) == sorted(expected)


def test_vlan_networks_without_8021q_devices() -> None:
    ns2, ns3 = instance_netns("host-a", s.P2), instance_netns("host-a", s.P3)
    brv, brw = "kb4d3e2f1a0b9", "kb5e4f3a2b1c0"
    kqv, kqw = "kq4d3e2f1a0b9", "kq5e4f3a2b1c0"
    plan = plan_of(s.VLAN_BY_TC)
    lines = describe(plan)
    expected = [
        f"link host kv4d3e2f1a0b9 veth mtu 1500 up master {brv} isolated on",
        f"link host {kqv} veth mtu 1500 up peer host/kv4d3e2f1a0b9",
        f"link host kv5e4f3a2b1c0 veth mtu 1500 up master {brw} isolated on",
        f"link host {kqw} veth mtu 1500 up peer host/kv5e4f3a2b1c0",
        f"tc host {kqv} vlan-push 42:ens5",
        f"tc host {kqw} vlan-push 43:ens5",
        f"tc host ens5 vlan-split 42:{kqv} 43:{kqw}",
        *instance_lines(ns2, "kta2000000000", brv, "fa:16:3e:00:00:02", 1500),
        *instance_lines(ns3, "kta3000000000", brw, "fa:16:3e:00:00:03", 1500),
    ]
    for line in expected:
        assert line in lines, line
    assert not any(" vlan 4" in line for line in lines)  # no 802.1Q devices
    # the flat network keeps the interface itself as its bridge port
    assert any(line.startswith("link host ens5 device up master kb3c2d1e0f9a8") for line in lines)
    wiring = {w.port_id: w.requires for w in plan.wiring}
    assert {("tc", "", kqw), ("tc", "", "ens5"), ("link", "", kqw)} <= wiring[s.P3]
    assert ("tc", "", "ens5") not in wiring[s.P1]
    # the same view from a host that has them: subinterfaces, no programs
    state = s.VLAN_BY_TC
    view = ClusterView.from_bodies(state.networks, state.subnets, state.ports, state.agents)
    with_devices = compile_host("host-a", view, vlan_devices=True)
    assert not with_devices.tc
    assert {x.kind for x in with_devices.links if x.name.startswith("kv")} == {"vlan"}


def test_mixed_owners_admin_down_unbound_and_unknown_hosts() -> None:
    plan = plan_of(s.MIXED_OWNERS)
    ns4 = instance_netns("host-a", s.P4)
    lines = describe(plan)
    # the DHCP port gets no instance plumbing; the admin-down port's host end is down
    assert {i.port_id for i in plan.instances} == {s.P1, s.P4}
    assert f"link host kta4000000000 veth mtu 1450 down master {BR1} peer {ns4}/eth0" in lines
    # unbound ports and ports on hosts without an agent get no FDB entries
    assert not any("fa:16:3e:00:00:05" in line or "fa:16:3e:00:00:06" in line for line in lines)
    assert {w.port_id for w in plan.wiring} == {s.P1, s.P4}


def test_wiring_requires_the_ports_objects_and_its_network() -> None:
    plan = plan_of(s.LOCAL_AND_REMOTE)
    (wiring,) = plan.wiring
    assert wiring.port_id == s.P1
    assert wiring.requires == {
        ("netns", NS1),
        ("link", "", BR1),
        ("link", "", VX1),
        ("master", "", VX1),
        ("link", "", TAP1),
        ("master", "", TAP1),
        ("link", NS1, "eth0"),
        ("link", NS1, "lo"),
        ("addr", NS1, "eth0", "10.0.0.11/24"),
        ("route", NS1, "0.0.0.0/0"),
        ("route", NS1, "169.254.169.254/32"),
        ("uts", NS1),
    }


def test_gateway_outside_subnet_gets_an_onlink_route() -> None:
    state = s.EMPTY.with_(
        "gateway outside",
        networks=(s.network(s.NET1),),
        subnets=(s.subnet("s1", s.NET1, "10.0.0.0/24", "10.9.9.1"),),
        ports=(s.port(s.P1, s.NET1, "fa:16:3e:00:00:01", "host-a", [("s1", "10.0.0.11")]),),
    )
    lines = describe(plan_of(state))
    assert f"route {NS1} 10.9.9.1/32 via - dev eth0" in lines
    assert f"route {NS1} 0.0.0.0/0 via 10.9.9.1 dev eth0" in lines


def test_host_route_to_default_wins_over_gateway() -> None:
    state = s.EMPTY.with_(
        "default host route",
        networks=(s.network(s.NET1),),
        subnets=(
            s.subnet(
                "s1",
                s.NET1,
                "10.0.0.0/24",
                "10.0.0.1",
                host_routes=[{"destination": "0.0.0.0/0", "nexthop": "10.0.0.3"}],
            ),
        ),
        ports=(s.port(s.P1, s.NET1, "fa:16:3e:00:00:01", "host-a", [("s1", "10.0.0.11")]),),
    )
    routes = [line for line in describe(plan_of(state)) if line.startswith("route")]
    assert routes == [f"route {NS1} 0.0.0.0/0 via 10.0.0.3 dev eth0"]


def test_network_admin_down_and_port_mtu() -> None:
    state = s.EMPTY.with_(
        "admin down network",
        networks=(s.network(s.NET1, admin_state_up=False, mtu=1400),),
        subnets=(s.subnet("s1", s.NET1, "10.0.0.0/24", None),),
        ports=(s.port(s.P1, s.NET1, "fa:16:3e:00:00:01", "host-a", [("s1", "10.0.0.11")]),),
    )
    lines = describe(plan_of(state))
    assert f"link host {BR1} bridge mtu 1400 down" in lines
    assert f"link host {TAP1} veth mtu 1400 down master {BR1} peer {NS1}/eth0" in lines
    assert not any(line.startswith("route") for line in lines)


def test_host_without_tunnel_ip_switches_locally_only() -> None:
    state = s.LOCAL_AND_REMOTE.with_("no tunnel", agents=())
    view = ClusterView.from_bodies(
        state.networks, state.subnets, state.ports, [s.agent("host-a", None), *s.AGENTS[1:]]
    )
    lines = describe(compile_host("host-a", view))
    assert f"link host {BR1} bridge mtu 1450 up" in lines
    assert not any("vxlan" in line or line.startswith(("fdb", "neigh")) for line in lines)


def test_underlay_override() -> None:
    lines = describe(plan_of(s.ONE_LOCAL, underlay_device="bond0"))
    assert any(f"link host {VX1} vxlan" in line and "dev bond0" in line for line in lines)


def test_metadata_endpoint() -> None:
    """A local instance port's network gets a metadata namespace with a leg
    in the bridge; the instance an on-link route to 169.254.169.254; a
    DHCP lease the same route after the default one."""
    from kumo.compiler.metadata import metadata_mac
    from kumo.compiler.names import metadata_netns

    plan = plan_of(s.ONE_LOCAL)
    km = metadata_netns("host-a", s.NET1)
    mac = metadata_mac("host-a", s.NET1)
    extra = sorted(set(plan.describe()) - set(describe(plan)))
    assert extra == sorted([
        f"netns {km}",
        f"link host km1f0e2d3c4b5 veth mtu 1450 up master {BR1} peer {km}/eth0",
        f"link {km} eth0 veth mtu 1450 mac {mac} up",
        f"link {km} lo device up",
        f"addr {km} eth0 169.254.169.254/32",
        f"addr {km} eth0 fe80::a9fe:a9fe/64",
        f"route {km} 10.0.0.0/24 via - dev eth0",
        f"route {NS1} 169.254.169.254/32 via - dev eth0",
    ])  # fmt: skip
    (endpoint,) = plan.metadata
    assert endpoint.netns == km and endpoint.network_id == s.NET1
    assert [(c.ip, c.port_id) for c in endpoint.clients] == [("10.0.0.11", s.P1)]
    # a remote-only host serves nothing
    assert not plan_of(s.REMOTE_ONLY).metadata


def test_metadata_on_provider_networks() -> None:
    """Flat and VLAN networks get a metadata namespace too; its leg and the
    uplink are isolated bridge ports, so the leg never answers other hosts
    across the physical segment."""
    from kumo.compiler.metadata import metadata_mac
    from kumo.compiler.names import metadata_netns

    plan = plan_of(s.PROVIDER)
    brf, brv = "kb3c2d1e0f9a8", "kb4d3e2f1a0b9"
    kmf, kmv = metadata_netns("host-a", s.FLAT), metadata_netns("host-a", s.VLAN)
    legs = {line for line in plan.describe() if line.startswith("link host km")}
    assert legs == {
        f"link host km3c2d1e0f9a8 veth mtu 1500 up master {brf} isolated on peer {kmf}/eth0",
        f"link host km4d3e2f1a0b9 veth mtu 1500 up master {brv} isolated on peer {kmv}/eth0",
    }
    assert f"link {kmf} eth0 veth mtu 1500 mac {metadata_mac('host-a', s.FLAT)} up" in (
        plan.describe()
    )
    assert {(e.network_id, tuple(c.ip for c in e.clients)) for e in plan.metadata} == {
        (s.FLAT, ("198.51.100.5",)),
        (s.VLAN, ("203.0.113.5",)),
    }
    ns1 = instance_netns("host-a", s.P1)
    assert f"route {ns1} 169.254.169.254/32 via - dev eth0" in plan.describe()


def test_metadata_route_in_dhcp_lease_after_the_default() -> None:
    state = s.ONE_LOCAL.with_(
        "dhcp",
        subnets=(s.subnet("s1", s.NET1, "10.0.0.0/24", "10.0.0.1", enable_dhcp=True),),
    )
    (lease,) = plan_of(state).dhcp
    assert lease.routes == (("0.0.0.0/0", "10.0.0.1"), ("169.254.169.254/32", "0.0.0.0"))
    # the instance's own route comes from the lease, not from kumo
    assert not [r for r in plan_of(state).routes if r.netns == NS1]
