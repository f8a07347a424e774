"""A small interpreter for kumo's tc programs: runs their bytecode against
a packet's VLAN metadata and records the helpers they call, so the programs
can be checked without a kernel. It knows only the instructions and helpers
``kumo.dataplane.bpf`` encodes."""

from __future__ import annotations

from dataclasses import dataclass, field

from kumo.dataplane import bpf

CTX = object()
"""Stands for the ``__sk_buff`` pointer in a register."""


@dataclass
class Skb:
    vlan_present: bool = False
    vlan_tci: int = 0
    vlan_proto: int = 0
    calls: list[tuple[str, int, int]] = field(default_factory=list)
    redirect: int | None = None


def run(code: bytes, skb: Skb, max_steps: int = 100_000) -> int:
    """The program's verdict; ``skb`` records what its helpers did."""
    insns = bpf.decode(code)
    regs: list[object] = [0] * 11
    regs[bpf.R1] = CTX
    pc = 0
    for _ in range(max_steps):
        op, dst, src, off, imm = insns[pc]
        pc += 1
        if op == bpf.MOV64_IMM:
            regs[dst] = imm
        elif op == bpf.MOV64_REG:
            regs[dst] = regs[src]
        elif op == bpf.AND64_IMM:
            regs[dst] = int(regs[dst]) & imm  # type: ignore[call-overload]
        elif op == bpf.LDX_W:
            assert regs[src] is CTX, "context loads only"
            regs[dst] = {
                bpf.SKB_VLAN_PRESENT: int(skb.vlan_present),
                bpf.SKB_VLAN_TCI: skb.vlan_tci,
                bpf.SKB_VLAN_PROTO: skb.vlan_proto,
            }[off]
        elif op == bpf.JA:
            pc += off
        elif op == bpf.JEQ_IMM:
            pc += off if regs[dst] == imm else 0
        elif op == bpf.JNE_IMM:
            pc += off if regs[dst] != imm else 0
        elif op == bpf.CALL:
            regs[bpf.R0] = _helper(imm, regs, skb)
            regs[1:6] = [None] * 5  # clobbered by the call
        elif op == bpf.EXIT:
            return int(regs[bpf.R0])  # type: ignore[call-overload]
        else:
            raise AssertionError(f"unknown opcode {op:#x} at {pc - 1}")
    raise AssertionError("program did not finish")


def _helper(fn: int, regs: list[object], skb: Skb) -> int:
    if fn == bpf.FN_SKB_VLAN_PUSH:
        assert regs[bpf.R1] is CTX
        proto, tci = int(regs[bpf.R2]), int(regs[bpf.R3])  # type: ignore[call-overload]
        skb.calls.append(("push", proto, tci))
        skb.vlan_present, skb.vlan_proto, skb.vlan_tci = True, proto, tci
        return 0
    if fn == bpf.FN_SKB_VLAN_POP:
        assert regs[bpf.R1] is CTX
        skb.calls.append(("pop", 0, 0))
        skb.vlan_present, skb.vlan_proto, skb.vlan_tci = False, 0, 0
        return 0
    if fn == bpf.FN_REDIRECT:
        index, flags = int(regs[bpf.R1]), int(regs[bpf.R2])  # type: ignore[call-overload]
        skb.calls.append(("redirect", index, flags))
        skb.redirect = index
        return bpf.TC_ACT_REDIRECT
    raise AssertionError(f"unexpected helper {fn}")
