"""Base images on a host: each image bundle unpacked once into
``CACHE/<sha256 of the bundle>/`` (kernel, initramfs, base disk, and the
kernel and initramfs uncompressed where ``kumo.vm.bootfiles`` can make
them: what QEMU boots), read-only from then on. Every VM's root disk is a
qcow2 overlay on the base disk, so the cache entry must outlive the VMs
using it."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kumo.guestimage import bundle
from kumo.vm import bootfiles


@dataclass(frozen=True)
class BaseImage:
    directory: Path
    kernel: Path
    ramdisk: Path
    disk: Path
    cmdline: str
    min_ram_mb: int
    boot_kernel: Path
    """What QEMU boots: the uncompressed PVH kernel if made, else ``kernel``."""
    boot_ramdisk: Path
    """The uncompressed initramfs if made, else ``ramdisk``."""


def digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _base(directory: Path, descriptor: bundle.Descriptor) -> BaseImage:
    return BaseImage(
        directory=directory,
        kernel=directory / descriptor.kernel,
        ramdisk=directory / descriptor.ramdisk,
        disk=directory / descriptor.disk,
        cmdline=descriptor.cmdline,
        min_ram_mb=descriptor.min_ram_mb,
        boot_kernel=bootfiles.boot_kernel(directory, descriptor.kernel),
        boot_ramdisk=bootfiles.boot_ramdisk(directory, descriptor.ramdisk),
    )


def ensure(image: Path, cache: Path, sha256: str | None = None) -> BaseImage:
    """The unpacked base of the bundle ``image`` (unpacked now if not yet).
    ``sha256`` (the image's known checksum) saves hashing the file."""
    key = sha256 or digest(image)
    directory = cache / key
    done = directory / bundle.DESCRIPTOR
    if done.is_file():
        descriptor = bundle.Descriptor.from_json(done.read_bytes())
        bootfiles.ensure(directory, descriptor.kernel, descriptor.ramdisk)
        return _base(directory, descriptor)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=cache))
    try:
        descriptor = bundle.unpack(image, tmp)
        bootfiles.prepare(tmp, descriptor.kernel, descriptor.ramdisk)
        for path in tmp.iterdir():
            path.chmod(0o444)
        (tmp / bundle.DESCRIPTOR).write_bytes(descriptor.to_json())
        try:
            os.rename(tmp, directory)
        except OSError:
            if not done.is_file():  # not a concurrent unpack of the same image
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _base(directory, descriptor)
