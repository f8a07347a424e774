"""The uncompressed boot files a host makes from a bundle: the PVH kernel
out of a bzImage, the plain cpio out of a compressed initramfs, and the
bundle's own files kept whenever that is not possible."""

from __future__ import annotations

import gzip
import lzma
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from kumo.guestimage import bundle
from kumo.vm import bootfiles, images

CPIO = b"070701" + b"0" * 104 + b"TRAILER!!!\0" + b"\0" * 3


def _elf(note_type: int | None) -> bytes:
    """A 64-bit ELF with one PT_NOTE segment holding a "Xen" note of ``note_type``."""
    note = b""
    if note_type is not None:
        note = struct.pack("<III", 4, 4, note_type) + b"Xen\0" + b"\0\0\0\x01"
    phoff, phentsize = 64, 56
    header = bytearray(64)
    header[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<Q", header, 0x20, phoff)
    struct.pack_into("<HH", header, 0x36, phentsize, 1)
    offset = phoff + phentsize
    phdr = struct.pack("<IIQQQQQQ", 4, 4, offset, 0, 0, len(note), len(note), 4)
    return bytes(header) + phdr + note + b"\x90" * 64


def _bzimage(payload: bytes, size: int) -> bytes:
    """A bzImage shell: one setup sector, the setup header's payload fields,
    then ``payload`` followed by the uncompressed size, as the kernel build
    appends it."""
    setup = bytearray(2 * 512)
    setup[0x1F1] = 1
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, 0x20F)
    struct.pack_into("<II", setup, 0x248, 16, len(payload) + 4)
    return bytes(setup) + b"\0" * 16 + payload + struct.pack("<I", size) + b"\0" * 32


def test_pvh_kernel_from_gzip_and_xz_payloads() -> None:
    elf = _elf(18)
    for payload in (gzip.compress(elf, mtime=0), lzma.compress(elf)):
        assert bootfiles.pvh_kernel(_bzimage(payload, len(elf))) == elf


@pytest.mark.skipif(shutil.which("lz4") is None, reason="lz4 not installed")
def test_pvh_kernel_from_an_lz4_legacy_payload() -> None:
    elf = _elf(18)
    payload = subprocess.run(
        ["lz4", "-l", "-9", "-c"], input=elf, capture_output=True, check=True
    ).stdout
    assert bootfiles.pvh_kernel(_bzimage(payload, len(elf))) == elf


def test_no_pvh_note_or_not_a_bzimage_is_refused() -> None:
    for note_type in (None, 17):
        elf = _elf(note_type)
        with pytest.raises(bootfiles.BootFileError, match="PVH"):
            bootfiles.pvh_kernel(_bzimage(gzip.compress(elf), len(elf)))
    with pytest.raises(bootfiles.BootFileError, match="bzImage"):
        bootfiles.pvh_kernel(b"kernel")
    with pytest.raises(bootfiles.BootFileError, match="compression"):
        bootfiles.pvh_kernel(_bzimage(b"BZh9" + b"\0" * 40, 100))


def test_plain_initramfs() -> None:
    assert bootfiles.plain_initramfs(gzip.compress(CPIO)) == CPIO
    # Two gzip members (two archives): both, as the kernel would unpack them.
    assert bootfiles.plain_initramfs(gzip.compress(CPIO) + gzip.compress(CPIO)) == CPIO + CPIO
    assert bootfiles.plain_initramfs(lzma.compress(CPIO)) == CPIO
    with pytest.raises(bootfiles.BootFileError, match="already"):
        bootfiles.plain_initramfs(CPIO)
    with pytest.raises(bootfiles.BootFileError, match="cpio"):
        bootfiles.plain_initramfs(gzip.compress(b"not an archive"))


def _bundle(root: Path, kernel: bytes, ramdisk: bytes) -> Path:
    parts = root / "parts"
    parts.mkdir()
    (parts / "vmlinuz").write_bytes(kernel)
    (parts / "initrd.img").write_bytes(ramdisk)
    (parts / "disk.qcow2").write_bytes(b"disk")
    descriptor = bundle.Descriptor("vmlinuz", "initrd.img", "disk.qcow2", "console=ttyS0", 128, {})
    path = root / "img.tar"
    bundle.write(path, descriptor, {p.name: p for p in parts.iterdir()}, 0)
    return path


def test_image_cache_boots_the_uncompressed_files(tmp_path: Path) -> None:
    elf = _elf(18)
    image = _bundle(tmp_path, _bzimage(gzip.compress(elf), len(elf)), gzip.compress(CPIO))
    base = images.ensure(image, tmp_path / "cache")
    assert base.boot_kernel == base.directory / bootfiles.KERNEL
    assert base.boot_ramdisk == base.directory / bootfiles.RAMDISK
    assert base.boot_kernel.read_bytes() == elf and base.boot_ramdisk.read_bytes() == CPIO
    # The bundle's own files stay (a snapshot bundles them again).
    assert base.kernel.name == "vmlinuz" and base.kernel.read_bytes().startswith(b"\0")
    # Found again as it was made.
    assert images.ensure(image, tmp_path / "cache") == base


def test_image_cache_keeps_what_it_cannot_improve(tmp_path: Path) -> None:
    image = _bundle(tmp_path, b"kernel", CPIO)
    base = images.ensure(image, tmp_path / "cache")
    assert (base.boot_kernel, base.boot_ramdisk) == (base.kernel, base.ramdisk)
    assert sorted(p.name for p in base.directory.iterdir()) == [
        bootfiles.DONE, "disk.qcow2", "initrd.img", bundle.DESCRIPTOR, "vmlinuz",
    ]  # fmt: skip


def test_an_entry_unpacked_before_boot_files_gets_them_once(tmp_path: Path) -> None:
    elf = _elf(18)
    image = _bundle(tmp_path, _bzimage(gzip.compress(elf), len(elf)), gzip.compress(CPIO))
    first = images.ensure(image, tmp_path / "cache")
    for made in (bootfiles.KERNEL, bootfiles.RAMDISK, bootfiles.DONE):
        (first.directory / made).unlink()  # as an older host left it
    base = images.ensure(image, tmp_path / "cache")
    assert base.boot_kernel.read_bytes() == elf and base.boot_ramdisk.read_bytes() == CPIO
    assert not [p for p in base.directory.iterdir() if p.name.endswith(".tmp")]
    # Done once: a file removed now stays removed (no conversion at every boot).
    (base.directory / bootfiles.KERNEL).unlink()
    assert images.ensure(image, tmp_path / "cache").boot_kernel == base.kernel
