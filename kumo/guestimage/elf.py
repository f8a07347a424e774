"""The two facts the image build reads from ELF files: a program's shared
libraries (``DT_NEEDED``) and a kernel module's dependencies (``depends=``
in ``.modinfo``). 64-bit little-endian only (x86-64 guests); anything else
raises ``ValueError``. Small enough to need no binutils on the build host."""

from __future__ import annotations

import struct
from pathlib import Path

_DT_NEEDED = 1
_DT_STRTAB = 5
_PT_LOAD = 1
_PT_DYNAMIC = 2


def _header(data: bytes) -> tuple[int, int, int, int, int, int, int]:
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError("not a 64-bit little-endian ELF file")
    (phoff, shoff) = struct.unpack_from("<QQ", data, 0x20)
    (phentsize, phnum, shentsize, shnum, shstrndx) = struct.unpack_from("<HHHHH", data, 0x36)
    return phoff, phentsize, phnum, shoff, shentsize, shnum, shstrndx


def sections(data: bytes) -> dict[str, bytes]:
    """Section name → contents."""
    _, _, _, shoff, shentsize, shnum, shstrndx = _header(data)
    table = []
    for i in range(shnum):
        name, _type, _flags, _addr, offset, size = struct.unpack_from(
            "<IIQQQQ", data, shoff + i * shentsize
        )
        table.append((name, offset, size))
    _, str_off, str_size = table[shstrndx]
    names = data[str_off : str_off + str_size]
    out = {}
    for name, offset, size in table:
        end = names.index(b"\0", name)
        out[names[name:end].decode()] = data[offset : offset + size]
    return out


def modinfo(path: Path) -> dict[str, str]:
    """A kernel module's ``.modinfo`` (the last value of a repeated key wins)."""
    raw = sections(path.read_bytes()).get(".modinfo", b"")
    out = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            out[key.decode()] = value.decode()
    return out


def needed(path: Path) -> list[str]:
    """The sonames a dynamically linked program or library asks for, in order."""
    data = path.read_bytes()
    phoff, phentsize, phnum, *_ = _header(data)
    loads: list[tuple[int, int, int]] = []
    dynamic: tuple[int, int] | None = None
    for i in range(phnum):
        p_type, _flags, offset, vaddr, _paddr, filesz = struct.unpack_from(
            "<IIQQQQ", data, phoff + i * phentsize
        )
        if p_type == _PT_LOAD:
            loads.append((vaddr, offset, filesz))
        elif p_type == _PT_DYNAMIC:
            dynamic = (offset, filesz)
    if dynamic is None:
        return []
    entries: list[tuple[int, int]] = []
    offset, size = dynamic
    for pos in range(offset, offset + size, 16):
        tag, value = struct.unpack_from("<qQ", data, pos)
        if tag == 0:
            break
        entries.append((tag, value))
    strtab = next(value for tag, value in entries if tag == _DT_STRTAB)
    base = next(
        off + strtab - vaddr for vaddr, off, size in loads if vaddr <= strtab < vaddr + size
    )
    out = []
    for tag, value in entries:
        if tag == _DT_NEEDED:
            end = data.index(b"\0", base + value)
            out.append(data[base + value : end].decode())
    return out
