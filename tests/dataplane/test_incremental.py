"""Event-driven passes read back only the namespaces whose desired state changed."""

from __future__ import annotations

from kumo.compiler import names
from kumo.compiler.plan import HOST_NS
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
