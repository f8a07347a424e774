"""Event-driven passes read back only the namespaces whose desired state changed."""

from __future__ import annotations

from dataclasses import replace

from kumo.compiler import names
from kumo.compiler.plan import HOST_NS, Link
from kumo.dataplane.driver import Dataplane
from kumo.dataplane.fake import FakeKernel
from tests.compiler import states as s
from tests.dataplane.plans import HOST, plan_for

NEW = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"


class ReadRecorder(FakeKernel):
    """The fake kernel, remembering which namespaces each read touched."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []

    def list_links(self, netns: str):  # type: ignore[no-untyped-def]
        self.reads.append(netns)
        return super().list_links(netns)

    def list_addresses(self, netns: str):  # type: ignore[no-untyped-def]
        self.reads.append(netns)
        return super().list_addresses(netns)

    def list_routes(self, netns: str):  # type: ignore[no-untyped-def]
        self.reads.append(netns)
        return super().list_routes(netns)


def test_adding_a_port_reads_only_its_namespace_and_keeps_the_others_wired() -> None:
    fake = ReadRecorder()
    dp = Dataplane(fake, HOST)
    base = s.TWO_NETWORKS_SAME_CIDR
    first = dp.apply(plan_for(base))
    assert first.ok
    before = set(first.wired_ports)
    assert len(before) >= 2

    more = base.with_(
        "one more local port",
        ports=(s.port(NEW, s.NET1, "fa:16:3e:00:00:09", HOST, [("s1", "10.0.0.19")]),),
    )
    fake.reads.clear()
    second = dp.apply(plan_for(more))
    assert second.ok
    assert set(second.wired_ports) == before | {NEW}
    instance_reads = {ns for ns in fake.reads if ns != HOST_NS}
    assert instance_reads == {names.instance_netns(HOST, NEW)}

    # A resync reads every namespace again and still changes nothing.
    fake.reads.clear()
    changes = fake.calls.total()
    dp.resync()
    third = dp.apply(plan_for(more))
    assert third.ok and set(third.wired_ports) == set(second.wired_ports)
    assert {ns for ns in fake.reads if ns != HOST_NS and not names.is_metadata_netns(ns)} == {
        names.instance_netns(HOST, pid) for pid in second.wired_ports
    }
    mutating = [op for op in fake.journal[changes:] if not op.startswith("list_")]
    assert mutating == []


def test_a_failed_pass_makes_the_next_one_full() -> None:
    fake = ReadRecorder()
    dp = Dataplane(fake, HOST)
    base = s.TWO_NETWORKS_SAME_CIDR
    assert dp.apply(plan_for(base)).ok
    fake.fail_next("add_link", 16)  # EBUSY
    more = base.with_(
        "one more local port",
        ports=(s.port(NEW, s.NET1, "fa:16:3e:00:00:09", HOST, [("s1", "10.0.0.19")]),),
    )
    assert not dp.apply(plan_for(more)).ok
    fake.reads.clear()
    result = dp.retry()
    assert result.ok and NEW in result.wired_ports
    read = {ns for ns in fake.reads if ns != HOST_NS and not names.is_metadata_netns(ns)}
    assert len(read) == len(result.wired_ports)


REMOTE_NEW = "8e7d6c5b-4a39-4281-9f60-5e4d3c2b1a0f"
WHOLE_READS = ("list_links", "list_addresses", "list_neighbours", "list_fdb", "list_routes")


def _host_reads(fake: FakeKernel, start: int) -> list[str]:
    return [op for op in fake.journal[start:] if op in WHOLE_READS]


class NsJournal(FakeKernel):
    """The fake kernel, remembering (operation, namespace) of every whole-namespace read."""

    def __init__(self) -> None:
        super().__init__()
        self.whole: list[tuple[str, str]] = []

    def list_links(self, netns: str):  # type: ignore[no-untyped-def]
        self.whole.append(("links", netns))
        return super().list_links(netns)

    def list_fdb(self, netns: str):  # type: ignore[no-untyped-def]
        self.whole.append(("fdb", netns))
        return super().list_fdb(netns)

    def list_neighbours(self, netns: str):  # type: ignore[no-untyped-def]
        self.whole.append(("neighbours", netns))
        return super().list_neighbours(netns)

    def list_addresses(self, netns: str):  # type: ignore[no-untyped-def]
        self.whole.append(("addresses", netns))
        return super().list_addresses(netns)

    def list_routes(self, netns: str):  # type: ignore[no-untyped-def]
        self.whole.append(("routes", netns))
        return super().list_routes(netns)


def _more(base: s.State) -> s.State:
    return base.with_(
        "one more local port",
        ports=(s.port(NEW, s.NET1, "fa:16:3e:00:00:09", HOST, [("s1", "10.0.0.19")]),),
    )


def test_an_event_pass_reads_only_the_changed_devices_of_the_host_namespace() -> None:
    fake = NsJournal()
    dp = Dataplane(fake, HOST)
    base = s.TWO_NETWORKS_SAME_CIDR
    assert dp.apply(plan_for(base)).ok
    fake.whole.clear()
    start = len(fake.journal)
    result = dp.apply(plan_for(_more(base)))
    assert result.ok and NEW in result.wired_ports
    # Only the new namespace is read whole; the host's links are asked by name.
    assert {ns for _, ns in fake.whole} == {names.instance_netns(HOST, NEW)}
    assert "list_links_named" in fake.journal[start:]


def test_a_remote_port_leaving_removes_its_fdb_entries_in_an_event_pass() -> None:
    fake = NsJournal()
    dp = Dataplane(fake, HOST)
    gone = s.TWO_NETWORKS_SAME_CIDR.with_(
        "one more remote port",
        ports=(s.port(REMOTE_NEW, s.NET1, "fa:16:3e:00:00:0a", "host-b", [("s1", "10.0.0.20")]),),
    )
    assert dp.apply(plan_for(gone)).ok
    macs = {e.mac for e in fake.namespaces[HOST_NS].fdb}
    assert "fa:16:3e:00:00:0a" in macs
    fake.whole.clear()
    result = dp.apply(plan_for(s.TWO_NETWORKS_SAME_CIDR))
    assert result.ok
    assert "fa:16:3e:00:00:0a" not in {e.mac for e in fake.namespaces[HOST_NS].fdb}
    assert ("fdb", HOST_NS) not in fake.whole
    assert fake.journal.count("del_fdb") >= 1
    # The next full pass finds nothing left to do.
    dp.resync()
    start = len(fake.journal)
    assert dp.apply(plan_for(s.TWO_NETWORKS_SAME_CIDR)).ok
    assert [op for op in fake.journal[start:] if not op.startswith("list_")] == []


def test_drift_is_left_to_the_next_full_pass_and_fixed_there() -> None:
    fake = NsJournal()
    dp = Dataplane(fake, HOST)
    base = s.TWO_NETWORKS_SAME_CIDR
    assert dp.apply(plan_for(base)).ok
    wired = dp.apply(plan_for(base)).wired_ports
    # Behind the agent's back: a port's host end goes down.
    tap = names.tap_name(s.P1)
    fake.namespaces[HOST_NS].links[tap].state = replace(
        fake.namespaces[HOST_NS].links[tap].state, up=False
    )
    event = dp.apply(plan_for(_more(base)))
    assert event.ok and wired <= event.wired_ports
    assert not fake.link(HOST_NS, tap).up  # not read: the last verdict holds
    dp.resync()
    assert dp.apply(plan_for(_more(base))).ok
    assert fake.link(HOST_NS, tap).up


def test_a_rolling_resync_reads_a_slice_per_pass_and_fixes_drift_in_its_slice() -> None:
    fake = NsJournal()
    dp = Dataplane(fake, HOST)
    dp.rolling_slice = 1
    base = s.TWO_NETWORKS_SAME_CIDR
    assert dp.apply(plan_for(base)).ok
    others = sorted(n.name for n in dp.plan.netns if n.name != HOST_NS)
    assert len(others) >= 2
    # Behind the agent's back: an instance loses its address, a host end goes down.
    victim = names.instance_netns(HOST, s.P1)
    lost = set(fake.namespaces[victim].addresses)
    assert lost
    fake.namespaces[victim].addresses.clear()
    tap = names.tap_name(s.P1)
    fake.namespaces[HOST_NS].links[tap].state = replace(
        fake.namespaces[HOST_NS].links[tap].state, up=False
    )
    dp.resync(rolling=True)
    assert dp.rolling
    seen: list[set[str]] = []
    passes = 0
    plan = plan_for(base)
    while dp.rolling:
        fake.whole.clear()
        assert dp.apply(plan).ok
        seen.append({ns for kind, ns in fake.whole if kind == "links"})
        passes += 1
    # the host namespace's own devices (by name: it is never dumped whole),
    # then one namespace per pass, with the host end of its pair
    assert passes == 1 + len(others)
    assert all(HOST_NS not in part for part in seen)
    assert all(len(part) <= 1 for part in seen[1:])
    assert set().union(*seen) == set(others)
    assert fake.link(HOST_NS, tap).up
    assert set(fake.namespaces[victim].addresses) == lost
    # and once done, passes are event passes again
    fake.whole.clear()
    assert dp.apply(plan).ok and not dp.rolling
    assert fake.whole == []


def test_a_sweep_reads_the_host_namespace_whole_and_removes_strays() -> None:
    fake = NsJournal()
    dp = Dataplane(fake, HOST)
    base = s.TWO_NETWORKS_SAME_CIDR
    plan = plan_for(base)
    assert dp.apply(plan).ok
    stray = Link(HOST_NS, names.bridge_name("0badc0de-0000-4000-8000-000000000000"), "bridge")
    fake.add_link(stray, None)  # a kumo-named link nobody wants
    dp.resync(rolling=True)
    while dp.rolling:
        assert dp.apply(plan).ok
    assert stray.name in fake.namespaces[HOST_NS].links  # not looked for by name
    dp.swept_at -= dp.sweep_interval
    dp.resync(rolling=True)
    fake.whole.clear()
    assert dp.apply(plan).ok
    assert ("links", HOST_NS) in fake.whole
    assert stray.name not in fake.namespaces[HOST_NS].links


def test_a_port_added_during_a_rolling_resync_is_wired_in_the_next_pass() -> None:
    fake = NsJournal()
    dp = Dataplane(fake, HOST)
    dp.rolling_slice = 1
    base = s.TWO_NETWORKS_SAME_CIDR
    assert dp.apply(plan_for(base)).ok
    dp.resync(rolling=True)
    assert dp.apply(plan_for(base)).ok and dp.rolling
    fake.whole.clear()
    result = dp.apply(plan_for(_more(base)))
    assert result.ok and NEW in result.wired_ports
    # an event pass reads no slice: only what its change needs
    instance_reads = {ns for _, ns in fake.whole if ns != HOST_NS}
    assert instance_reads <= {names.instance_netns(HOST, NEW)}
    assert dp.rolling  # the slices still to come
    while dp.rolling:
        assert dp.apply(plan_for(_more(base))).ok
