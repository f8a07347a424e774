"""The VLAN tc programs, run by a small interpreter: what each does with
tagged and untagged frames."""

from __future__ import annotations

import errno
import socket

import pytest

from kumo.dataplane import bpf, vlan_programs
from kumo.dataplane.fake import check_program
from tests.dataplane.bpfsim import Skb, run

Q = socket.htons(0x8100)
AD = socket.htons(0x88A8)


def test_push_tags_and_sends_out_of_the_physical_interface() -> None:
    skb = Skb()
    verdict = run(vlan_programs.push_program(100, 7), skb)
    assert verdict == bpf.TC_ACT_REDIRECT
    assert skb.calls == [("push", Q, 100), ("redirect", 7, 0)]


SPLIT = vlan_programs.split_program(((100, 11), (101, 12), (4094, 13)))


@pytest.mark.parametrize(("vid", "target"), [(100, 11), (101, 12), (4094, 13), (100 | 0x6000, 11)])
def test_split_untags_a_local_vlan_into_its_outer_end(vid: int, target: int) -> None:
    skb = Skb(vlan_present=True, vlan_tci=vid, vlan_proto=Q)
    assert run(SPLIT, skb) == bpf.TC_ACT_REDIRECT
    assert skb.calls == [("pop", 0, 0), ("redirect", target, 0)]
    assert not skb.vlan_present


@pytest.mark.parametrize("vid", [1, 99, 102, 4093])
def test_split_drops_other_vlans(vid: int) -> None:
    skb = Skb(vlan_present=True, vlan_tci=vid, vlan_proto=Q)
    assert run(SPLIT, skb) == bpf.TC_ACT_SHOT
    assert skb.calls == []


def test_split_drops_other_tag_protocols_and_passes_untagged_frames() -> None:
    skb = Skb(vlan_present=True, vlan_tci=100, vlan_proto=AD)
    assert run(SPLIT, skb) == bpf.TC_ACT_SHOT
    untagged = Skb()
    assert run(SPLIT, untagged) == bpf.TC_ACT_OK
    assert untagged.calls == []


def test_programs_pass_the_fakes_checks_and_bad_ones_do_not() -> None:
    check_program(SPLIT)
    check_program(vlan_programs.push_program(1, 1))
    check_program(vlan_programs.split_program(tuple((v, v) for v in range(1, 4095))))
    for bad in (b"", SPLIT[:-3], bpf.jump(5) + bpf.exit_(), bpf.mov_imm(0, 0)):
        with pytest.raises(OSError) as info:
            check_program(bad)
        assert info.value.errno == errno.EINVAL


def test_vlan_ids_are_checked() -> None:
    with pytest.raises(ValueError):
        vlan_programs.push_program(4095, 1)
    with pytest.raises(ValueError):
        vlan_programs.split_program(())


def test_fingerprint_follows_the_code() -> None:
    a = vlan_programs.fingerprint("vlan-push", vlan_programs.push_program(100, 7))
    b = vlan_programs.fingerprint("vlan-push", vlan_programs.push_program(100, 8))
    assert a != b and a.startswith("kumo:vlan-push:")
