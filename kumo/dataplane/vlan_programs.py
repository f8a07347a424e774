"""802.1Q VLANs without VLAN devices: the two tc programs, as eBPF bytecode.

Some kernels are built without 802.1Q devices (no ``ip link add ... type
vlan``), yet every kernel untags received 802.1Q frames into the packet's
metadata before tc's ingress hook runs, and eBPF can push and pop that tag
(``bpf_skb_vlan_push``/``bpf_skb_vlan_pop``). On such a host a VLAN network
reaches its physical interface through a veth pair instead of a VLAN
subinterface: one end is a port of the network's bridge, the other end
(outside any bridge) carries two programs on clsact ingress hooks:

``vlan-push`` on the outer end (frames leaving the bridge toward the wire)::

    r6 = skb
    bpf_skb_vlan_push(skb, htons(0x8100), VID)      # failure: drop
    return bpf_redirect(PHYSDEV, 0)                 # out of the physical interface

``vlan-split`` on the physical interface (frames from the wire)::

    if not skb->vlan_present: return TC_ACT_OK     # untagged: the flat network's
    if skb->vlan_proto != htons(0x8100): drop
    vid = skb->vlan_tci & 0xfff
    if vid == VID1: target = OUTER1; goto pop
    if vid == VID2: target = OUTER2; goto pop
    ...
    return TC_ACT_SHOT                              # a VLAN not on this host
    pop: bpf_skb_vlan_pop(skb)                      # failure: drop
    return bpf_redirect(target, 0)                  # egress of the outer end:
                                                    # it comes out in the bridge

Tagged frames of VLANs this host does not have are dropped there, so they
never reach the flat network's bridge (the physical interface is its port).

The VID → outer end mapping is an if-chain generated into the program, not
a BPF map: a program then holds all of its state, there is nothing else to
create, pin or clean up, and its fingerprint (a hash of the bytecode, kept
as the tc filter's name) says exactly what is attached, so reading the
filter back is enough to compare desired and actual. A change of the VLAN
set (or of an interface index) builds a new program that replaces the
filter in one netlink request; frames in flight see the old program or the
new one. The chain costs one compare per VLAN of the host, at most 4094.

The programs use no maps and no packet access, so the verifier has little
to check; they are loaded as ``SCHED_CLS`` with the "GPL" license and
attached in direct-action mode. Interface indexes are resolved when a
program is built, so a recreated interface means a new program.
"""

from __future__ import annotations

import hashlib
import socket

from kumo.dataplane import bpf
from kumo.dataplane.bpf import R0, R1, R2, R3, R6, R7

ETH_P_8021Q = 0x8100
NAME_PREFIX = "kumo:"
"""tc filter names of kumo's programs start with this."""


def push_program(vid: int, physdev_index: int) -> bytes:
    """Tag with ``vid`` and send out of ``physdev_index``."""
    _check_vid(vid)
    return b"".join(
        [
            bpf.mov_reg(R6, R1),
            bpf.mov_imm(R2, socket.htons(ETH_P_8021Q)),
            bpf.mov_imm(R3, vid),
            bpf.call(bpf.FN_SKB_VLAN_PUSH),
            bpf.jump_ne(R0, 0, 4),
            bpf.mov_imm(R1, physdev_index),
            bpf.mov_imm(R2, 0),
            bpf.call(bpf.FN_REDIRECT),
            bpf.exit_(),
            bpf.mov_imm(R0, bpf.TC_ACT_SHOT),
            bpf.exit_(),
        ]
    )


def split_program(vlans: tuple[tuple[int, int], ...]) -> bytes:
    """Untag frames of the VLANs in ``vlans`` ((vid, outer end's index))
    and hand them to the outer end's egress; drop other tagged frames; let
    untagged frames pass."""
    if not vlans:
        raise ValueError("a split program needs at least one VLAN")
    for vid, _ in vlans:
        _check_vid(vid)
    chain = len(vlans)
    # layout: head (7) | compares (1 each) | drop (2) | targets (2 each) | pop (7) | pass (2)
    drop_at = 7 + chain
    targets_at = drop_at + 2
    pop_at = targets_at + 2 * chain
    pass_at = pop_at + 7
    code = [
        bpf.mov_reg(R6, R1),
        bpf.load_word(R2, R6, bpf.SKB_VLAN_PRESENT),
        bpf.jump_eq(R2, 0, pass_at - 3),
        bpf.load_word(R2, R6, bpf.SKB_VLAN_PROTO),
        bpf.jump_ne(R2, socket.htons(ETH_P_8021Q), drop_at - 5),
        bpf.load_word(R2, R6, bpf.SKB_VLAN_TCI),
        bpf.and_imm(R2, 0xFFF),
    ]
    for n, (vid, _) in enumerate(vlans):
        code.append(bpf.jump_eq(R2, vid, targets_at + 2 * n - (len(code) + 1)))
    code += [bpf.mov_imm(R0, bpf.TC_ACT_SHOT), bpf.exit_()]
    for _, index in vlans:
        code += [bpf.mov_imm(R7, index), bpf.jump(pop_at - (len(code) + 2))]
    code += [
        bpf.mov_reg(R1, R6),
        bpf.call(bpf.FN_SKB_VLAN_POP),
        bpf.jump_ne(R0, 0, drop_at - (pop_at + 3)),
        bpf.mov_reg(R1, R7),
        bpf.mov_imm(R2, 0),
        bpf.call(bpf.FN_REDIRECT),
        bpf.exit_(),
        bpf.mov_imm(R0, bpf.TC_ACT_OK),
        bpf.exit_(),
    ]
    assert len(code) == pass_at + 2
    return b"".join(code)


def fingerprint(kind: str, code: bytes) -> str:
    """The tc filter name that stands for this program."""
    return f"{NAME_PREFIX}{kind}:{hashlib.sha256(code).hexdigest()[:16]}"


def _check_vid(vid: int) -> None:
    if not 1 <= vid <= 4094:
        raise ValueError(f"VLAN id {vid} out of range")
