"""eBPF from Python: a few instruction encoders and ``BPF_PROG_LOAD``.

Only what kumo's tc programs need (``vlan_programs``): 64-bit moves, an AND,
32-bit context loads, conditional and unconditional jumps, helper calls and
exit. An instruction is the kernel's ``struct bpf_insn``: opcode (8 bits),
destination and source registers (4 bits each), a signed 16-bit offset and
a signed 32-bit immediate, little-endian as on the machines kumo runs on.

``load`` hands a program to the kernel with the ``bpf(2)`` system call
through ctypes (no libbpf, no compiler) and returns its file descriptor;
the verifier's log comes back in the error when the kernel refuses it.
"""

from __future__ import annotations

import ctypes
import os
import platform
import struct

INSN = struct.Struct("<BBhi")
INSN_SIZE = INSN.size

# registers
R0, R1, R2, R3, R4, R5, R6, R7, R8, R9, R10 = range(11)

# opcodes (class | op | source)
_ALU64 = 0x07
_JMP = 0x05
_LDX = 0x01
_K = 0x00
_X = 0x08
MOV64_IMM = _ALU64 | 0xB0 | _K
MOV64_REG = _ALU64 | 0xB0 | _X
AND64_IMM = _ALU64 | 0x50 | _K
LDX_W = _LDX | 0x60 | 0x00  # BPF_MEM | BPF_W
JA = _JMP | 0x00
JEQ_IMM = _JMP | 0x10 | _K
JNE_IMM = _JMP | 0x50 | _K
CALL = _JMP | 0x80
EXIT = _JMP | 0x90

# helpers (enum bpf_func_id)
FN_SKB_VLAN_PUSH = 18
FN_SKB_VLAN_POP = 19
FN_REDIRECT = 23

# tc verdicts
TC_ACT_OK = 0
TC_ACT_SHOT = 2
TC_ACT_REDIRECT = 7

# struct __sk_buff offsets
SKB_VLAN_PRESENT = 20
SKB_VLAN_TCI = 24
SKB_VLAN_PROTO = 28

PROG_TYPE_SCHED_CLS = 3
_BPF_PROG_LOAD = 5
_SYS_BPF = {"x86_64": 321, "aarch64": 280}
_LOG_SIZE = 1 << 16


def insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return INSN.pack(code, (src << 4) | dst, off, imm)


def mov_imm(dst: int, imm: int) -> bytes:
    return insn(MOV64_IMM, dst, imm=imm)


def mov_reg(dst: int, src: int) -> bytes:
    return insn(MOV64_REG, dst, src)


def and_imm(dst: int, imm: int) -> bytes:
    return insn(AND64_IMM, dst, imm=imm)


def load_word(dst: int, src: int, off: int) -> bytes:
    return insn(LDX_W, dst, src, off)


def jump(off: int) -> bytes:
    return insn(JA, off=off)


def jump_eq(dst: int, imm: int, off: int) -> bytes:
    return insn(JEQ_IMM, dst, off=off, imm=imm)


def jump_ne(dst: int, imm: int, off: int) -> bytes:
    return insn(JNE_IMM, dst, off=off, imm=imm)


def call(helper: int) -> bytes:
    return insn(CALL, imm=helper)


def exit_() -> bytes:
    return insn(EXIT)


def decode(code: bytes) -> list[tuple[int, int, int, int, int]]:
    """(opcode, dst, src, off, imm) of each instruction."""
    out = []
    for i in range(0, len(code), INSN_SIZE):
        op, regs, off, imm = INSN.unpack_from(code, i)
        out.append((op, regs & 0xF, regs >> 4, off, imm))
    return out


class _ProgLoad(ctypes.Structure):
    """The ``BPF_PROG_LOAD`` part of ``union bpf_attr``, zero-padded to a
    size every kernel since 4.15 accepts."""

    _fields_ = [
        ("prog_type", ctypes.c_uint32),
        ("insn_cnt", ctypes.c_uint32),
        ("insns", ctypes.c_uint64),
        ("license", ctypes.c_uint64),
        ("log_level", ctypes.c_uint32),
        ("log_size", ctypes.c_uint32),
        ("log_buf", ctypes.c_uint64),
        ("kern_version", ctypes.c_uint32),
        ("prog_flags", ctypes.c_uint32),
        ("prog_name", ctypes.c_char * 16),
        ("prog_ifindex", ctypes.c_uint32),
        ("expected_attach_type", ctypes.c_uint32),
    ]


_libc = ctypes.CDLL(None, use_errno=True)


def load(code: bytes, name: str, prog_type: int = PROG_TYPE_SCHED_CLS) -> int:
    """Load ``code`` and return the program's file descriptor (the caller
    closes it). OSError with the kernel's errno and the verifier's log when
    the kernel refuses the program."""
    number = _SYS_BPF.get(platform.machine())
    if number is None:
        raise OSError(38, f"bpf(2) number unknown on {platform.machine()}")
    if not code or len(code) % INSN_SIZE:
        raise OSError(22, "empty or truncated program")
    insns = ctypes.create_string_buffer(code, len(code))
    license_ = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(_LOG_SIZE)
    attr = _ProgLoad(
        prog_type=prog_type,
        insn_cnt=len(code) // INSN_SIZE,
        insns=ctypes.addressof(insns),
        license=ctypes.addressof(license_),
        log_level=0,
        log_size=0,
        log_buf=0,
        prog_name=name.encode()[:15],
    )
    fd = _libc.syscall(number, _BPF_PROG_LOAD, ctypes.byref(attr), ctypes.sizeof(attr))
    if fd >= 0:
        return int(fd)
    err = ctypes.get_errno()
    # Again with the verifier's log, to say why.
    attr.log_level, attr.log_size, attr.log_buf = 1, _LOG_SIZE, ctypes.addressof(log)
    again = _libc.syscall(number, _BPF_PROG_LOAD, ctypes.byref(attr), ctypes.sizeof(attr))
    if again >= 0:  # accepted the second time: keep it
        return int(again)
    text = log.value.decode(errors="replace").strip().splitlines()
    raise OSError(err, f"{os.strerror(err)}: bpf program {name} refused: " + " | ".join(text[-3:]))
