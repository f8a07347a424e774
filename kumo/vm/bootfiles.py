"""A base image's kernel and initramfs as QEMU boots them fastest under TCG:
uncompressed, made once per host when the bundle is unpacked.

A bundle ships a compressed ``bzImage`` and (usually) a gzip initramfs:
small to upload and to fetch. Booting them makes the guest decompress
both on its emulated CPU on every boot: measured ~0.5 s of QEMU CPU for
the 14 MB LZ4 kernel and ~0.4 s for the 3 MB gzip initramfs, out of ~3.2 s
from launch to ``/init`` (docs/PERFORMANCE.md, "Third round"). The host
does the same work natively in a fraction of that, once per image:

- the kernel: the ``bzImage``'s payload (located by its setup header,
  boot protocol 2.08+) decompressed to the ``vmlinux`` ELF, kept only when
  it carries the PVH entry note (``XEN_ELFNOTE_PHYS32_ENTRY``), with which
  QEMU loads the ELF itself and enters the kernel in 32-bit mode, past the
  decompressor;
- the initramfs: a gzip or xz archive decompressed, kept only when the
  result is a newc ``cpio`` archive (the kernel takes either form).

Anything else (another compression without its tool on the host, no PVH
note, a concatenated early-microcode initramfs) keeps the bundle's file:
every bundle still boots, some just boot faster."""

from __future__ import annotations

import gzip
import logging
import lzma
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

log = logging.getLogger(__name__)

KERNEL = "boot-vmlinux"
"""The uncompressed kernel's file name in the cache entry."""
RAMDISK = "boot-initrd.cpio"
"""The uncompressed initramfs's file name in the cache entry."""
DONE = "boot-files.done"
"""Written once ``prepare`` has run (whatever it could make), so a cache
entry unpacked before this module existed is prepared once, not at every boot."""

_XEN_ELFNOTE_PHYS32_ENTRY = 18
_PT_NOTE = 4
_CPIO_NEWC = (b"070701", b"070702")
_GZIP = b"\x1f\x8b"
_XZ = b"\xfd7zXZ\x00"
_LZ4_LEGACY = b"\x02\x21\x4c\x18"
_ZSTD = b"\x28\xb5\x2f\xfd"
_TOOL_TIMEOUT = 60.0


class BootFileError(ValueError):
    """Not something this module can turn into a faster boot file."""


def bzimage_payload(data: bytes) -> bytes:
    """The compressed kernel inside a ``bzImage`` (setup header fields
    ``setup_sects``, ``payload_offset``, ``payload_length``)."""
    if len(data) < 0x250 or data[0x202:0x206] != b"HdrS":
        raise BootFileError("not a bzImage (no HdrS setup header)")
    (version,) = struct.unpack_from("<H", data, 0x206)
    if version < 0x208:
        raise BootFileError(f"boot protocol {version:#x} has no payload fields")
    setup_sects = data[0x1F1] or 4
    offset, length = struct.unpack_from("<II", data, 0x248)
    start = (setup_sects + 1) * 512 + offset
    if length == 0 or start + length > len(data):
        raise BootFileError("payload outside the file")
    return data[start : start + length]


def _tool(argv: list[str], data: bytes) -> bytes:
    if shutil.which(argv[0]) is None:
        raise BootFileError(f"{argv[0]} is not installed")
    done = subprocess.run(argv, input=data, capture_output=True, timeout=_TOOL_TIMEOUT)
    if done.returncode != 0 or not done.stdout:
        raise BootFileError(f"{argv[0]}: {done.stderr.decode(errors='replace').strip()[:200]}")
    return done.stdout


def decompress(data: bytes) -> bytes:
    """``data`` decompressed by its magic: gzip and xz here, LZ4 (the
    kernel's legacy frames) and zstd with their command line tools.
    Trailing bytes after the stream (the kernel build appends the
    uncompressed size) are ignored."""
    if data.startswith(_GZIP):
        try:
            return zlib.decompressobj(wbits=31).decompress(data)
        except zlib.error as exc:
            raise BootFileError(f"gzip: {exc}") from exc
    if data.startswith(_XZ):
        try:
            return lzma.LZMADecompressor().decompress(data)
        except lzma.LZMAError as exc:
            raise BootFileError(f"xz: {exc}") from exc
    if data.startswith(_LZ4_LEGACY):
        return _tool(["lz4", "-d", "-c"], data[:-4])  # the size the kernel build appends
    if data.startswith(_ZSTD):
        return _tool(["zstd", "-d", "-c", "-q"], data[:-4])
    raise BootFileError(f"unknown compression (magic {data[:4].hex()})")


def has_pvh_note(elf: bytes) -> bool:
    """Whether a 64-bit little-endian ELF has the PVH entry note QEMU needs
    to boot it directly."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        return False
    (phoff,) = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    for i in range(phnum):
        p_type, _flags, offset, _vaddr, _paddr, size = struct.unpack_from(
            "<IIQQQQ", elf, phoff + i * phentsize
        )
        if p_type != _PT_NOTE:
            continue
        pos, end = offset, offset + size
        while pos + 12 <= end:
            namesz, descsz, n_type = struct.unpack_from("<III", elf, pos)
            name = elf[pos + 12 : pos + 12 + namesz].rstrip(b"\0")
            if name == b"Xen" and n_type == _XEN_ELFNOTE_PHYS32_ENTRY:
                return True
            pos += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    return False


def pvh_kernel(bzimage: bytes) -> bytes:
    """The ``vmlinux`` ELF inside a ``bzImage``, if QEMU can boot it by PVH."""
    elf = decompress(bzimage_payload(bzimage))
    if not has_pvh_note(elf):
        raise BootFileError("the kernel has no PVH entry note")
    return elf


def plain_initramfs(ramdisk: bytes) -> bytes:
    """A compressed initramfs as the plain ``cpio`` archive inside it. The
    gzip case takes every member (``gzip.decompress``): the kernel unpacks
    concatenated archives the same way."""
    if ramdisk.startswith(_CPIO_NEWC):
        raise BootFileError("already uncompressed")
    if ramdisk.startswith(_GZIP):
        try:
            plain = gzip.decompress(ramdisk)
        except (OSError, EOFError, zlib.error) as exc:
            raise BootFileError(f"gzip: {exc}") from exc
    else:
        plain = decompress(ramdisk)
    if not plain.startswith(_CPIO_NEWC):
        raise BootFileError("not a newc cpio archive inside")
    return plain


def prepare(directory: Path, kernel: str, ramdisk: str) -> None:
    """Write ``KERNEL`` and ``RAMDISK`` into ``directory`` (an unpacked
    bundle) where the bundle's own files allow; skip quietly otherwise.
    Each file appears whole (written aside, then renamed): a VM starting
    meanwhile boots either the bundle's file or the finished one."""
    for made, source, convert in (
        (KERNEL, kernel, pvh_kernel),
        (RAMDISK, ramdisk, plain_initramfs),
    ):
        if made in (kernel, ramdisk):
            continue  # a bundle member of that name: leave it alone
        try:
            _write(directory / made, convert((directory / source).read_bytes()))
        except (BootFileError, OSError, subprocess.TimeoutExpired) as exc:
            log.info("%s: booting the bundle's %s as shipped (%s)", directory.name, source, exc)
    try:
        _write(directory / DONE, b"")
    except OSError as exc:  # a cache this host cannot write: tried again next time
        log.info("%s: %s", directory.name, exc)


def ensure(directory: Path, kernel: str, ramdisk: str) -> None:
    """``prepare`` a cache entry that has not been yet."""
    if not (directory / DONE).exists():
        prepare(directory, kernel, ramdisk)


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.chmod(0o444)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def boot_kernel(directory: Path, kernel: str) -> Path:
    made = directory / KERNEL
    return made if made.is_file() else directory / kernel


def boot_ramdisk(directory: Path, ramdisk: str) -> Path:
    made = directory / RAMDISK
    return made if made.is_file() else directory / ramdisk
