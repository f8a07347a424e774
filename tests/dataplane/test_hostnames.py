"""Instances' UTS namespaces on the fake kernel: made with the instance,
renamed in place, put back after drift, removed with the instance."""

from __future__ import annotations

from dataclasses import replace

from kumo.compiler import HostPlan
from kumo.compiler import names as n
from kumo.dataplane.driver import Dataplane
from kumo.dataplane.fake import FakeKernel
from kumo.dataplane.uts import FakeUts
from tests.compiler import states as s
from tests.dataplane.plans import HOST, plan_for

NS1 = n.instance_netns(HOST, s.P1)


def named(hostname: str) -> s.State:
    """ONE_LOCAL with its port's hostname on the watch body."""
    (port,) = s.ONE_LOCAL.ports
    return replace(s.ONE_LOCAL, ports=(dict(port, kumo_hostname=hostname),))


def test_instance_gets_its_hostname_and_is_wired_only_then() -> None:
    uts = FakeUts(fail_next=1)
    dp = Dataplane(FakeKernel(), HOST, uts=uts)
    result = dp.apply(plan_for(named("web-1")))
    assert not result.ok and s.P1 in result.unwired_ports
    assert any("hostnames" in k for k in result.errors)
    result = dp.retry()
    assert result.ok, result.errors
    assert uts.names == {NS1: "web-1"} and s.P1 in result.wired_ports


def test_hostname_change_renames_in_place() -> None:
    uts = FakeUts()
    dp = Dataplane(FakeKernel(), HOST, uts=uts)
    assert dp.apply(plan_for(named("web-1"))).ok
    result = dp.apply(plan_for(named("db-2")))
    assert result.ok and result.ran == ("hostnames", "guests", "vms")  # nothing else to redo
    assert uts.names == {NS1: "db-2"}
    assert uts.calls == [("create", NS1), ("set", NS1)]  # the namespace is kept


def test_drift_is_put_back_on_resync() -> None:
    uts = FakeUts()
    dp = Dataplane(FakeKernel(), HOST, uts=uts)
    plan = plan_for(named("web-1"))
    assert dp.apply(plan).ok
    uts.names[NS1] = "changed-inside"
    dp.resync()
    assert dp.apply(plan).ok and uts.names == {NS1: "web-1"}
    uts.names[NS1] = None  # the file is there, its namespace is not (a reboot of /run)
    dp.resync()
    assert dp.apply(plan).ok and uts.names == {NS1: "web-1"}


def test_uts_namespace_goes_with_its_instance() -> None:
    uts = FakeUts()
    dp = Dataplane(FakeKernel(), HOST, uts=uts)
    assert dp.apply(plan_for(named("web-1"))).ok
    foreign = n.instance_netns("another-host", s.P3)
    uts.names[foreign] = "theirs"
    assert dp.apply(HostPlan(host=HOST)).ok  # an event pass: the instance is deleted
    assert uts.names == {foreign: "theirs"}  # another host's are not ours to remove
    # one left behind while the agent was down goes in a full pass
    uts.names[NS1] = "web-1"
    dp.resync()
    assert dp.apply(HostPlan(host=HOST)).ok
    assert uts.names == {foreign: "theirs"}
