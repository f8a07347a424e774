"""Reconcilers and the driver on the fake kernel: convergence, idempotence,
leftovers, foreign objects, in-place corrections, injected faults."""

from __future__ import annotations

import errno
from dataclasses import replace

import pytest

from kumo.compiler import HostPlan
from kumo.compiler import names as n
from kumo.compiler.plan import (
    HOST_NS,
    Address,
    FdbEntry,
    Guest,
    Link,
    NeighEntry,
    Route,
    VethPeer,
)
from kumo.dataplane.driver import Dataplane, DataplaneSettings
from kumo.dataplane.fake import FakeKernel
from kumo.dataplane.guest.processes import FakeGuests
from kumo.dataplane.port import KernelPort, LinkChange
from tests.compiler import states as s
from tests.dataplane.plans import HOST, fake_dataplane, mutations, plan_for

NS1 = n.instance_netns(HOST, s.P1)
BR1, VX1, TAP1 = n.bridge_name(s.NET1), n.vxlan_name(s.NET1), n.tap_name(s.P1)


def test_converges_and_wires_ports() -> None:
    fake, dp = fake_dataplane()
    result = dp.apply(plan_for(s.TWO_NETWORKS_SAME_CIDR))
    assert result.ok, result.errors
    assert result.wired_ports == {s.P1, s.P3}
    assert result.unwired_ports == frozenset()
    host = fake.namespaces[HOST_NS]
    vx = host.links[VX1].state
    assert vx.master == BR1 and vx.learning is False and vx.mtu == 1450
    assert vx.vxlan is not None and vx.vxlan.vni == 101 and vx.vxlan.proxy
    tap = host.links[TAP1].state
    assert tap.master == BR1 and tap.up
    guest = fake.link(NS1, "eth0")
    assert guest.mac == "fa:16:3e:00:00:01" and guest.up and guest.mtu == 1450
    assert fake.link(NS1, "lo").up
    assert Address(NS1, "eth0", "10.0.0.11/24") in fake.namespaces[NS1].addresses
    assert fake.namespaces[NS1].routes["0.0.0.0/0"].gateway == "10.0.0.1"
    assert FdbEntry(HOST_NS, VX1, "fa:16:3e:00:00:02", False, "192.0.2.12") in host.fdb
    assert FdbEntry(HOST_NS, VX1, "fa:16:3e:00:00:02", True) in host.fdb
    assert host.neighbours[(VX1, "10.0.0.12")].mac == "fa:16:3e:00:00:02"


@pytest.mark.parametrize("state", s.STATES, ids=lambda st: st.name)
def test_second_apply_changes_nothing(state: s.State) -> None:
    fake, dp = fake_dataplane()
    fake.add_device(HOST_NS, "ens5")
    plan = plan_for(state)
    assert dp.apply(plan).ok
    again = dp.apply(plan)
    assert again.ok and again.changes == 0 and again.ran == ()
    # a fresh driver (an agent restart) reads everything back and changes nothing
    restarted = Dataplane(fake, HOST)
    before = len(mutations(fake))
    result = restarted.apply(plan)
    assert result.ok and result.changes == 0
    assert len(mutations(fake)) == before
    assert result.wired_ports == {w.port_id for w in plan.wiring}


def test_resync_rereads_everything_and_repairs_drift() -> None:
    fake, dp = fake_dataplane()
    plan = plan_for(s.LOCAL_AND_REMOTE)
    assert dp.apply(plan).ok
    # behind the agent's back: the instance end is deleted (the pair dies),
    # an FDB entry vanishes and the bridge goes down
    fake.del_link(NS1, "eth0")
    fake.namespaces[HOST_NS].fdb.clear()
    fake.set_link(HOST_NS, BR1, LinkChange(up=False))
    assert dp.apply(plan).changes == 0  # nothing dirty: no pass at all
    dp.resync()
    result = dp.apply(plan)
    assert result.ok and result.changes > 0
    assert fake.link(NS1, "eth0").mac == "fa:16:3e:00:00:01"
    assert fake.link(HOST_NS, TAP1).master == BR1
    assert fake.link(HOST_NS, BR1).up
    assert len(fake.namespaces[HOST_NS].fdb) == 2
    dp.resync()
    assert dp.apply(plan).changes == 0


def test_leftovers_are_removed_and_foreign_objects_untouched() -> None:
    fake = FakeKernel()
    port = KernelPort(fake)
    other_host_ns = n.instance_netns("host-b", s.P2)
    stale_ns = n.instance_netns(HOST, "gone-port")
    # foreign things: a lab bridge with an address and a neighbour, the
    # underlay, another host's instance, the lab's own namespace
    fake.add_device(HOST_NS, "br0", kind="bridge")
    port.add_address(Address(HOST_NS, "eth0", "192.0.2.11/24"))
    port.replace_neighbour(NeighEntry(HOST_NS, "eth0", "192.0.2.99", "02:00:00:00:00:99"))
    for ns in (other_host_ns, "kh-host-a", stale_ns):
        port.add_netns(ns)
    # kumo leftovers: a stale bridge with a port, a stale tap, a stale route
    stale_br = n.bridge_name("old-net")
    stale_tap = n.tap_name("old-port")
    port.add_link(Link(HOST_NS, stale_br, "bridge"))
    port.add_link(
        Link(HOST_NS, stale_tap, "veth", peer=VethPeer(stale_ns, "eth0")),
        Link(stale_ns, "eth0", "veth"),
    )
    port.set_master(HOST_NS, stale_tap, stale_br)
    port.add_address(Address(HOST_NS, stale_br, "10.9.0.1/24"))
    port.replace_route(Route(HOST_NS, "10.99.0.0/16", None, "eth0"))
    fake.set_master(HOST_NS, "eth0", None)

    dp = Dataplane(fake, HOST)
    result = dp.apply(plan_for(s.ONE_LOCAL))
    assert result.ok, result.errors
    host = fake.namespaces[HOST_NS]
    assert stale_br not in host.links and stale_tap not in host.links
    assert stale_ns not in fake.namespaces
    assert host.routes == {}
    assert {other_host_ns, "kh-host-a", NS1} <= set(fake.namespaces)
    assert "br0" in host.links
    assert Address(HOST_NS, "eth0", "192.0.2.11/24") in host.addresses
    assert (("eth0", "192.0.2.99")) in host.neighbours


def test_leftovers_are_removed_in_reverse_dependency_order() -> None:
    fake, dp = fake_dataplane()
    assert dp.apply(plan_for(s.LOCAL_AND_REMOTE)).ok
    fake.journal.clear()
    result = dp.apply(HostPlan(host=HOST))
    assert result.ok
    ops = mutations(fake)
    # the namespace first (its veth pair goes with it), then the rest in reverse
    assert ops[0] == "del_netns"
    assert ops.index("del_fdb") < ops.index("del_neighbour") < ops.index("del_link")
    assert ops.count("del_link") == 2  # bridge and VXLAN device; not the tap
    assert set(fake.namespaces) == {HOST_NS}
    assert set(fake.namespaces[HOST_NS].links) == {"lo", "eth0"}
    assert fake.namespaces[HOST_NS].fdb == set()


def test_mtu_change_is_made_in_place() -> None:
    fake, dp = fake_dataplane()
    state = s.LOCAL_AND_REMOTE
    assert dp.apply(plan_for(state)).ok
    fake.journal.clear()
    smaller = replace(state, networks=(s.network(s.NET1, mtu=1400),))
    result = dp.apply(plan_for(smaller))
    assert result.ok
    assert set(mutations(fake)) == {"set_link"}
    assert fake.link(HOST_NS, VX1).mtu == 1400
    assert fake.link(NS1, "eth0").mtu == 1400


def test_vni_change_recreates_only_the_vxlan_device() -> None:
    fake, dp = fake_dataplane()
    state = s.LOCAL_AND_REMOTE
    assert dp.apply(plan_for(state)).ok
    fake.journal.clear()
    renumbered = replace(state, networks=(s.network(s.NET1, seg=555),))
    result = dp.apply(plan_for(renumbered))
    assert result.ok, result.errors
    assert mutations(fake).count("del_link") == 1
    assert mutations(fake).count("add_link") == 1
    vx = fake.link(HOST_NS, VX1)
    assert vx.vxlan is not None and vx.vxlan.vni == 555
    assert vx.master == BR1 and vx.learning is False
    assert len(fake.namespaces[HOST_NS].fdb) == 2  # re-added on the new device
    assert dp.apply(plan_for(renumbered)).changes == 0


def test_wrong_kind_under_a_kumo_name_is_recreated() -> None:
    fake, dp = fake_dataplane()
    KernelPort(fake).add_link(Link(HOST_NS, BR1, "dummy"))
    assert dp.apply(plan_for(s.ONE_LOCAL)).ok
    assert fake.link(HOST_NS, BR1).kind == "bridge"


def test_remote_port_moves_to_another_host() -> None:
    fake, dp = fake_dataplane()
    assert dp.apply(plan_for(s.LOCAL_AND_REMOTE)).ok
    moved = replace(
        s.LOCAL_AND_REMOTE,
        ports=(
            s.LOCAL_AND_REMOTE.ports[0],
            s.port(s.P2, s.NET1, "fa:16:3e:00:00:02", "host-c", [("s1", "10.0.0.12")]),
        ),
    )
    result = dp.apply(plan_for(moved))
    assert result.ok
    fdb = fake.namespaces[HOST_NS].fdb
    assert FdbEntry(HOST_NS, VX1, "fa:16:3e:00:00:02", False, "192.0.2.13") in fdb
    assert not any(e.dst == "192.0.2.12" for e in fdb)
    assert dp.apply(plan_for(moved)).changes == 0


def test_port_removed_then_network_removed() -> None:
    fake, dp = fake_dataplane()
    assert dp.apply(plan_for(s.TWO_NETWORKS_SAME_CIDR)).ok
    without_p3 = replace(
        s.TWO_NETWORKS_SAME_CIDR,
        ports=tuple(p for p in s.TWO_NETWORKS_SAME_CIDR.ports if p["id"] != s.P3),
    )
    result = dp.apply(plan_for(without_p3))
    assert result.ok and result.wired_ports == {s.P1}
    assert n.instance_netns(HOST, s.P3) not in fake.namespaces
    assert n.tap_name(s.P3) not in fake.namespaces[HOST_NS].links
    # network 2 still has a remote port but no local one: its devices go
    assert n.bridge_name(s.NET2) not in fake.namespaces[HOST_NS].links
    assert n.vxlan_name(s.NET2) not in fake.namespaces[HOST_NS].links
    assert BR1 in fake.namespaces[HOST_NS].links


FAULTS = [
    ("add_netns", errno.EBUSY),
    ("add_link", errno.EBUSY),
    ("add_link", errno.ENOBUFS),
    ("set_link", errno.EAGAIN),
    ("set_master", errno.EBUSY),
    ("set_learning", errno.EBUSY),
    ("add_address", errno.EBUSY),
    ("replace_route", errno.ENETUNREACH),
    ("replace_neighbour", errno.EBUSY),
    ("replace_fdb", errno.EBUSY),
    ("list_links", errno.EINTR),
    ("list_netns", errno.EIO),
    ("list_fdb_on", errno.EBUSY),
]


@pytest.mark.parametrize(("op", "err"), FAULTS, ids=[f"{op}-{e}" for op, e in FAULTS])
def test_injected_failure_is_retried_and_converges(op: str, err: int) -> None:
    fake, dp = fake_dataplane()
    plan = plan_for(s.LOCAL_AND_REMOTE)
    fake.fail_next(op, err)
    first = dp.apply(plan)
    assert not first.ok
    assert first.errors
    assert first.retry_after is not None and 0.8 * 0.2 <= first.retry_after <= 0.2  # jittered
    second = dp.retry()
    assert second.ok, second.errors
    assert second.wired_ports == {s.P1}
    assert dp.apply(plan).changes == 0


def test_failure_of_one_object_does_not_stop_the_others() -> None:
    fake, dp = fake_dataplane()
    fake.fail_next("add_address", errno.EBUSY)
    result = dp.apply(plan_for(s.TWO_NETWORKS_SAME_CIDR))
    assert not result.ok
    assert len(result.wired_ports) == 1  # the other port is complete
    assert any("addresses" in key for key in result.errors)
    assert len(fake.namespaces[HOST_NS].fdb) == 4


def test_leftover_removal_failure_is_retried() -> None:
    fake, dp = fake_dataplane()
    assert dp.apply(plan_for(s.ONE_LOCAL)).ok
    fake.fail_next("del_netns", errno.EBUSY)
    result = dp.apply(HostPlan(host=HOST))
    assert not result.ok
    assert NS1 in fake.namespaces
    assert dp.retry().ok
    assert NS1 not in fake.namespaces


def test_missing_physical_device_keeps_port_unwired_until_it_appears() -> None:
    fake, dp = fake_dataplane()
    plan = plan_for(s.PROVIDER)
    result = dp.apply(plan)
    assert not result.ok
    assert result.wired_ports == frozenset()
    fake.add_device(HOST_NS, "ens5")
    result = dp.retry()
    assert result.ok, result.errors
    assert result.wired_ports == {s.P1, s.P2}
    assert fake.link(HOST_NS, "ens5").master == n.bridge_name(s.FLAT)
    vlan = fake.link(HOST_NS, n.vlan_name(s.VLAN))
    assert (vlan.vlan_id, vlan.parent, vlan.master) == (42, "ens5", n.bridge_name(s.VLAN))


def test_physical_device_is_released_not_deleted() -> None:
    fake, dp = fake_dataplane()
    fake.add_device(HOST_NS, "ens5")
    assert dp.apply(plan_for(s.PROVIDER)).ok
    assert dp.apply(HostPlan(host=HOST)).ok
    assert "ens5" in fake.namespaces[HOST_NS].links
    assert fake.link(HOST_NS, "ens5").master is None


def test_backoff_grows_and_resets() -> None:
    now = [100.0]
    fake = FakeKernel()
    settings = DataplaneSettings(
        retry_initial_delay=1.0, retry_multiplier=3.0, retry_max_delay=5.0, retry_jitter=0.0
    )
    dp = Dataplane(fake, HOST, settings, clock=lambda: now[0])
    plan = plan_for(s.ONE_LOCAL)
    # two namespaces per pass (the instance's and the metadata service's)
    fake.fail_next("add_netns", errno.EBUSY, times=5)
    delays = [dp.apply(plan).retry_after, dp.retry().retry_after, dp.retry().retry_after]
    assert delays == [1.0, 3.0, 5.0]
    assert not dp.retry_due
    now[0] += 5.0
    assert dp.retry_due
    result = dp.retry()
    assert result.ok and result.retry_after is None and not dp.retry_due


def test_converge_sleeps_between_retries() -> None:
    fake = FakeKernel()
    dp = Dataplane(fake, HOST, DataplaneSettings(retry_jitter=0.0))
    fake.fail_next("add_netns", errno.EBUSY, times=3)  # two namespaces, then one
    slept: list[float] = []
    result = dp.converge(plan_for(s.ONE_LOCAL), timeout=10, sleep=slept.append)
    assert result.ok
    assert slept == [0.2, 0.4]


def test_plan_for_another_host_is_refused() -> None:
    _, dp = fake_dataplane()
    with pytest.raises(ValueError):
        dp.apply(plan_for(s.ONE_LOCAL, "host-b"))


def test_provider_uplinks_and_metadata_legs_are_isolated_bridge_ports() -> None:
    fake, dp = fake_dataplane()
    fake.add_device(HOST_NS, "ens5")
    plan = plan_for(s.PROVIDER)
    fake.fail_next("set_isolated", errno.EBUSY)
    assert not dp.apply(plan).ok
    result = dp.retry()
    assert result.ok, result.errors
    assert result.wired_ports == {s.P1, s.P2}
    host = fake.namespaces[HOST_NS].links
    flat, vlan = n.bridge_name(s.FLAT), n.bridge_name(s.VLAN)
    assert (host["ens5"].state.master, host["ens5"].state.isolated) == (flat, True)
    vlan_dev = host[n.vlan_name(s.VLAN)].state
    assert (vlan_dev.master, vlan_dev.isolated, vlan_dev.parent) == (vlan, True, "ens5")
    leg = host[n.metadata_port_name(s.FLAT)].state
    assert (leg.master, leg.isolated) == (flat, True)
    # instance ports are not isolated: they reach the uplink and the leg
    assert host[n.tap_name(s.P1)].state.isolated is False
    # isolation turned off behind kumo's back comes back; nothing else changes
    fake.set_isolated(HOST_NS, "ens5", False)
    before = len(mutations(fake))
    dp.resync()
    again = dp.apply(plan)
    assert again.ok and host["ens5"].state.isolated is True
    assert mutations(fake)[before:] == ["set_isolated"]
    # the flat network's last local port goes: the interface leaves the bridge
    without_flat = replace(
        s.PROVIDER, name="vlan only", ports=tuple(p for p in s.PROVIDER.ports if p["id"] != s.P1)
    )
    assert dp.apply(plan_for(without_flat)).ok
    assert host["ens5"].state.master is None and host["ens5"].state.isolated is None
    assert host[n.vlan_name(s.VLAN)].state.master == vlan


def test_ports_are_reported_wired_before_their_guests_start() -> None:
    """A pass hands its wired ports to ``before_guests`` once everything but
    the guest processes is in place, and only then starts the guests."""
    guests = FakeGuests()
    dp = Dataplane(FakeKernel(), HOST, guests=guests)
    seen: list[tuple[frozenset[str], dict[tuple[str, str], int]]] = []
    dp.before_guests = lambda wired: seen.append((wired, dict(guests.processes)))
    plan = replace(plan_for(s.TWO_NETWORKS_SAME_CIDR), guests=frozenset({Guest(NS1, "eth0")}))
    result = dp.apply(plan)
    assert result.ok and guests.processes
    assert seen == [(result.wired_ports, {})]
    assert s.P1 in result.wired_ports
    dp.apply(plan)  # no guest to start or stop: no early report
    assert len(seen) == 1


def test_guest_files_go_with_their_instance() -> None:
    fake = FakeKernel()
    guests = FakeGuests()
    dp = Dataplane(fake, HOST, guests=guests)
    plan = plan_for(s.ONE_LOCAL)
    assert dp.apply(plan).ok
    assert NS1 in guests.with_files()
    assert dp.apply(HostPlan(host=HOST)).ok
    assert NS1 not in fake.namespaces
    assert guests.with_files() == frozenset()


def test_guest_files_of_instances_removed_meanwhile_are_swept() -> None:
    fake = FakeKernel()
    guests = FakeGuests()
    dp = Dataplane(fake, HOST, guests=guests)
    assert dp.apply(plan_for(s.ONE_LOCAL)).ok
    # the agent was down while the instance went: its files stayed behind
    other = n.instance_netns(HOST, s.P3)
    foreign = n.instance_netns("another-host", s.P3)
    guests.files |= {other, foreign}
    dp.resync()
    assert dp.apply(plan_for(s.ONE_LOCAL)).ok
    assert guests.with_files() == {NS1, foreign}  # another host's are not ours to remove
