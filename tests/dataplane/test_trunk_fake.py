"""Trunks against the in-memory kernel: a subport is wired (the agent
reports it ACTIVE) once its veth pair and both tc programs are in place,
not before; its objects go when it leaves the trunk."""

from __future__ import annotations

import errno

from kumo.compiler import compile_host, names
from kumo.compiler.plan import HOST_NS
from kumo.dataplane.driver import Dataplane
from kumo.dataplane.fake import FakeKernel
from tests.compiler import states as s
from tests.compiler.test_trunks import view


def test_subports_wired_with_their_programs_and_removed_after() -> None:
    kernel = FakeKernel()
    dp = Dataplane(kernel, "host-a")
    kernel.fail_next("attach_tc", errno.EBUSY)
    first = dp.apply(compile_host("host-a", view()))
    assert not first.ok and s.P2 in first.unwired_ports and s.P3 in first.wired_ports
    result = dp.apply(compile_host("host-a", view()))
    assert result.ok, result.errors
    assert {s.P1, s.P2, s.P3} <= result.wired_ports
    programs = {t.ifname for t in kernel.list_tc(HOST_NS)}
    assert {names.tap_name(s.P1), names.trunk_wire_name(s.P2)} <= programs
    # the parent goes elsewhere: so do its subports' objects
    result = dp.apply(compile_host("host-a", view(parent_host="host-b")))
    assert result.ok, result.errors
    assert not {t.ifname for t in kernel.list_tc(HOST_NS)}
    links = {link.name for link in kernel.links_named(HOST_NS, frozenset(
        {names.trunk_wire_name(s.P2), names.tap_name(s.P2)}))}  # fmt: skip
    assert not links
