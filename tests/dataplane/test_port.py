"""KernelPort: errno → domain errors, idempotent adds/deletes, counting,
read cache and dry run (on the fake kernel)."""

from __future__ import annotations

import errno

import pytest

from kumo.compiler.plan import HOST_NS, Address, Link, Route
from kumo.dataplane.fake import FakeKernel
from kumo.dataplane.port import (
    Busy,
    DataplaneError,
    Denied,
    KernelPort,
    LinkChange,
    NotPresent,
    Rejected,
    Unreachable,
    domain_error,
)

BRIDGE = Link(HOST_NS, "kb00000000001", "bridge", mtu=1450)


@pytest.mark.parametrize(
    ("err", "kind", "retryable"),
    [
        (errno.ENOENT, NotPresent, True),
        (errno.ENODEV, NotPresent, True),
        (errno.ENETUNREACH, Unreachable, True),
        (errno.EBUSY, Busy, True),
        (errno.EINVAL, Rejected, False),
        (errno.EPERM, Denied, False),
        (errno.EMFILE, DataplaneError, True),
    ],
)
def test_errno_mapping(err: int, kind: type[DataplaneError], retryable: bool) -> None:
    error = domain_error("add_link", OSError(err, "x"))
    assert type(error) is kind
    assert error.retryable is retryable
    assert error.errno == err
    assert "add_link" in str(error)


def test_add_of_existing_link_sets_it_instead() -> None:
    fake = FakeKernel()
    port = KernelPort(fake)
    port.add_link(BRIDGE)
    port.add_link(Link(HOST_NS, BRIDGE.name, "bridge", mtu=1400, up=False))
    assert fake.link(HOST_NS, BRIDGE.name).mtu == 1400
    assert not fake.link(HOST_NS, BRIDGE.name).up
    assert fake.calls["set_link"] == 1
    assert port.ops["add_link"] == 2


def test_deleting_what_is_gone_succeeds() -> None:
    fake = FakeKernel()
    port = KernelPort(fake)
    port.del_link(HOST_NS, "kb00000000009")
    port.del_netns("ki-00000000-nothing")
    port.del_address(Address(HOST_NS, "eth0", "10.9.9.9/24"))
    port.del_route(Route(HOST_NS, "10.9.0.0/16", None, "eth0"))
    assert port.changes == 4


def test_other_failures_raise_domain_errors() -> None:
    fake = FakeKernel()
    port = KernelPort(fake)
    fake.fail_next("add_link", errno.EBUSY)
    with pytest.raises(Busy):
        port.add_link(BRIDGE)
    port.add_link(BRIDGE)  # the fault was for one call only
    with pytest.raises(NotPresent):
        port.set_link(HOST_NS, "kb00000000009", LinkChange(mtu=1300))
    fake.fail_next("del_link", errno.EPERM)
    with pytest.raises(Denied):
        port.del_link(HOST_NS, BRIDGE.name)


def test_reads_are_cached_until_a_change_in_that_namespace() -> None:
    fake = FakeKernel()
    port = KernelPort(fake)
    port.list_links(HOST_NS)
    port.list_links(HOST_NS)
    assert fake.calls["list_links"] == 1
    # a write on known links: only those are read again, by name
    port.add_link(BRIDGE)
    tap = Link(HOST_NS, "kx00000000001", "vxlan", mtu=1450)
    fake.add_link(tap, None)
    port.set_master(HOST_NS, tap.name, BRIDGE.name)
    links = {link.name: link for link in port.list_links(HOST_NS)}
    assert BRIDGE.name in links and links[tap.name].master == BRIDGE.name
    assert fake.calls["list_links"] == 1 and fake.calls["list_links_named"] == 1
    # reads narrowed to other devices survive a write; those of the device go
    port.links_named(HOST_NS, frozenset({BRIDGE.name}))
    before = fake.calls["list_links_named"]
    port.begin_pass()
    port.links_named(HOST_NS, frozenset({BRIDGE.name}))
    port.links_named(HOST_NS, frozenset({tap.name}))
    port.set_learning(HOST_NS, tap.name, False)
    port.links_named(HOST_NS, frozenset({BRIDGE.name}))
    assert fake.calls["list_links_named"] == before + 2
    port.links_named(HOST_NS, frozenset({tap.name}))
    assert fake.calls["list_links_named"] == before + 3
    port.list_links(HOST_NS)
    assert fake.calls["list_links"] == 2
    # a write that may touch any link (a deletion) forgets the whole read
    port.del_link(HOST_NS, BRIDGE.name)
    links = {link.name: link for link in port.list_links(HOST_NS)}
    assert BRIDGE.name not in links and links[tap.name].master is None
    assert fake.calls["list_links"] == 3
    port.begin_pass()
    port.list_links(HOST_NS)
    assert fake.calls["list_links"] == 4


def test_dry_run_records_without_applying() -> None:
    fake = FakeKernel()
    port = KernelPort(fake, dry_run=True)
    port.add_netns("ki-x")
    port.add_link(BRIDGE)
    assert port.ops == {"add_netns": 1, "add_link": 1}
    assert port.log == ["add_netns ki-x", "add_link host"]
    assert "ki-x" not in fake.namespaces
    assert BRIDGE.name not in fake.namespaces[HOST_NS].links
