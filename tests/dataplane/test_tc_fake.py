"""The tc programs reconciler on the fake kernel: VLAN networks on a host
without 802.1Q devices (veth pairs and programs), idempotence, changes of
the VLAN set, devices recreated behind kumo's back, leftovers, faults."""

from __future__ import annotations

import errno
import socket
from dataclasses import replace

from kumo.compiler import names as n
from kumo.compiler.plan import HOST_NS
from kumo.dataplane import bpf
from kumo.dataplane.driver import Dataplane
from kumo.dataplane.fake import FakeKernel
from tests.compiler import states as s
from tests.dataplane.bpfsim import Skb, run
from tests.dataplane.plans import HOST, plan_for

KQV, KQW = n.vlan_wire_name(s.VLAN), n.vlan_wire_name(s.VLAN2)
KVV = n.vlan_name(s.VLAN)


def dataplane() -> tuple[FakeKernel, Dataplane]:
    fake = FakeKernel(host_links=("lo", "eth0", "ens5"))
    return fake, Dataplane(fake, HOST)


def test_vlans_by_tc_programs_converge_and_wire_ports() -> None:
    fake, dp = dataplane()
    result = dp.apply(plan_for(s.VLAN_BY_TC))
    assert result.ok, result.errors
    assert result.wired_ports == {s.P1, s.P2, s.P3}
    host = fake.namespaces[HOST_NS]
    assert set(host.tc) == {KQV, KQW, "ens5"}
    kvv = host.links[KVV].state
    assert kvv.kind == "veth" and kvv.master == n.bridge_name(s.VLAN) and kvv.isolated
    index = {name: link.state.index for name, link in host.links.items()}
    # frames from the bridge: tagged and sent out of ens5
    out = Skb()
    assert run(host.tc_code[KQV], out) == bpf.TC_ACT_REDIRECT
    assert out.calls == [("push", socket.htons(0x8100), 42), ("redirect", index["ens5"], 0)]
    # frames from the wire: each VLAN to its outer end, untagged
    for vid, target in ((42, KQV), (43, KQW)):
        frame = Skb(vlan_present=True, vlan_tci=vid, vlan_proto=socket.htons(0x8100))
        assert run(host.tc_code["ens5"], frame) == bpf.TC_ACT_REDIRECT
        assert frame.redirect == index[target] and not frame.vlan_present
    # a second pass reads back and changes nothing
    before = len(fake.journal)
    again = dp.apply(plan_for(s.VLAN_BY_TC))
    dp.resync()
    third = dp.apply(plan_for(s.VLAN_BY_TC))
    assert again.ok and third.ok and third.changes == 0
    assert [op for op in fake.journal[before:] if not op.startswith("list_")] == []


def test_a_vlan_leaving_the_host_replaces_the_split_program() -> None:
    fake, dp = dataplane()
    assert dp.apply(plan_for(s.VLAN_BY_TC)).ok
    host = fake.namespaces[HOST_NS]
    old = host.tc["ens5"].name
    without = replace(s.VLAN_BY_TC, ports=tuple(p for p in s.VLAN_BY_TC.ports if p["id"] != s.P3))
    result = dp.apply(plan_for(without))
    assert result.ok, result.errors
    assert set(host.tc) == {KQV, "ens5"} and KQW not in host.links
    assert host.tc["ens5"].name != old
    frame = Skb(vlan_present=True, vlan_tci=43, vlan_proto=socket.htons(0x8100))
    assert run(host.tc_code["ens5"], frame) == bpf.TC_ACT_SHOT
    # the last VLAN goes: the physical interface keeps no program of kumo's
    flat_only = replace(without, ports=tuple(p for p in without.ports if p["id"] == s.P1))
    result = dp.apply(plan_for(flat_only))
    assert result.ok, result.errors
    assert host.tc == {} and KQV not in host.links and KVV not in host.links


def test_a_recreated_device_gets_a_program_with_its_new_index() -> None:
    fake, dp = dataplane()
    plan = plan_for(s.VLAN_BY_TC)
    assert dp.apply(plan).ok
    fake.del_link(HOST_NS, KQV)  # behind kumo's back: the pair and its program go
    dp.resync()
    result = dp.apply(plan)
    assert result.ok, result.errors
    host = fake.namespaces[HOST_NS]
    frame = Skb(vlan_present=True, vlan_tci=42, vlan_proto=socket.htons(0x8100))
    run(host.tc_code["ens5"], frame)
    assert frame.redirect == host.links[KQV].state.index
    assert KQV in host.tc


def test_leftover_programs_are_removed() -> None:
    fake, dp = dataplane()
    assert dp.apply(plan_for(s.VLAN_BY_TC)).ok
    fake.attach_tc(HOST_NS, "eth0", "kumo:vlan-split:old", bpf.mov_imm(0, 0) + bpf.exit_())
    dp.resync()
    result = dp.apply(plan_for(s.VLAN_BY_TC))
    assert result.ok, result.errors
    assert "eth0" not in fake.namespaces[HOST_NS].tc


def test_a_failed_attach_is_retried_and_ports_wait_for_it() -> None:
    fake, dp = dataplane()
    fake.fail_next("attach_tc", errno.EBUSY)
    result = dp.apply(plan_for(s.VLAN_BY_TC))
    assert not result.ok and result.retry_after is not None
    assert any(key.startswith("tc: tc host") for key in result.errors)
    assert s.P1 in result.wired_ports and {s.P2, s.P3} & result.unwired_ports
    result = dp.retry()
    assert result.ok, result.errors
    assert result.wired_ports == {s.P1, s.P2, s.P3}


def test_a_missing_physical_interface_fails_the_vlan_ports_only() -> None:
    fake, dp = dataplane()
    fake.del_link(HOST_NS, "ens5")
    result = dp.apply(plan_for(s.VLAN_BY_TC))
    assert not result.ok
    assert any("ens5 does not exist" in message for message in result.errors.values())
    assert {s.P2, s.P3} <= result.unwired_ports
