"""The guest bundle: one file holding everything QEMU needs to boot an image
by direct kernel boot. An uncompressed POSIX tar whose first member is the
descriptor, then the members it names::

    kumo-image.json   {"format": "kumo-bundle/1", "kernel": "vmlinuz",
                       "ramdisk": "initrd.img", "disk": "disk.qcow2",
                       "cmdline": "...", "min_ram_mb": ..., ...}
    vmlinuz           the kernel
    initrd.img        the initramfs (the whole root file system)
    disk.qcow2        the base of each instance's root disk

Members are written in that order with one mtime, owner 0/0 and no user
names, so equal contents give equal bytes. ``unpack`` checks names and
sizes before it writes anything (no paths outside the target, no links)."""

from __future__ import annotations

import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = "kumo-bundle/1"
DESCRIPTOR = "kumo-image.json"
MEMBERS = ("kernel", "ramdisk", "disk")
MAX_DESCRIPTOR = 64 * 1024


class BundleError(ValueError):
    """Not a kumo bundle, or a damaged one."""


def looks_like(head: bytes) -> bool:
    """Whether the first bytes of a file can start a bundle: a tar whose
    first member's name (the header's first 100 bytes) is the descriptor."""
    return head[:100].split(b"\0", 1)[0] == DESCRIPTOR.encode() and len(head) > len(DESCRIPTOR)


@dataclass(frozen=True)
class Descriptor:
    kernel: str
    ramdisk: str
    disk: str
    cmdline: str
    min_ram_mb: int
    extra: dict[str, Any]

    def to_json(self) -> bytes:
        doc = {
            "format": FORMAT,
            "kernel": self.kernel,
            "ramdisk": self.ramdisk,
            "disk": self.disk,
            "cmdline": self.cmdline,
            "min_ram_mb": self.min_ram_mb,
            **self.extra,
        }
        return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Descriptor:
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            raise BundleError(f"{DESCRIPTOR}: {exc}") from exc
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise BundleError(f"{DESCRIPTOR}: format is not {FORMAT}")
        try:
            names = {key: str(doc.pop(key)) for key in MEMBERS}
            cmdline = str(doc.pop("cmdline"))
            min_ram = int(doc.pop("min_ram_mb"))
        except (KeyError, TypeError, ValueError) as exc:
            raise BundleError(f"{DESCRIPTOR}: missing or bad field {exc}") from exc
        for name in names.values():
            if "/" in name or name in ("", ".", "..", DESCRIPTOR):
                raise BundleError(f"{DESCRIPTOR}: bad member name {name!r}")
        doc.pop("format")
        return cls(cmdline=cmdline, min_ram_mb=min_ram, extra=doc, **names)


def write(path: Path, descriptor: Descriptor, files: dict[str, Path], mtime: int) -> None:
    """Write the bundle to ``path`` (via a temporary file and a rename).
    ``files`` maps the descriptor's member names to their sources."""
    tmp = path.with_name(path.name + ".tmp")
    with tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
        members: list[tuple[str, bytes | Path]] = [(DESCRIPTOR, descriptor.to_json())]
        members += [(getattr(descriptor, key), files[getattr(descriptor, key)]) for key in MEMBERS]
        for name, source in members:
            info = tarfile.TarInfo(name)
            info.mtime, info.mode, info.uid, info.gid = mtime, 0o644, 0, 0
            if isinstance(source, bytes):
                info.size = len(source)
                tar.addfile(info, io.BytesIO(source))
            else:
                info.size = source.stat().st_size
                with source.open("rb") as f:
                    tar.addfile(info, f)
    os.replace(tmp, path)


def read_descriptor(path: Path) -> Descriptor:
    with _open(path) as tar:
        first = tar.next()
        return _descriptor(tar, first)


def unpack(path: Path, into: Path) -> Descriptor:
    """Extract the bundle's members into the directory ``into`` (which must exist)."""
    with _open(path) as tar:
        descriptor = _descriptor(tar, tar.next())
        wanted = {getattr(descriptor, key) for key in MEMBERS}
        seen = set()
        while (info := tar.next()) is not None:
            if info.name not in wanted or not info.isfile() or info.name in seen:
                raise BundleError(f"unexpected member {info.name!r}")
            seen.add(info.name)
            source = tar.extractfile(info)
            assert source is not None
            with (into / info.name).open("wb") as out:
                while block := source.read(1 << 20):
                    out.write(block)
        if seen != wanted:
            raise BundleError(f"members missing: {sorted(wanted - seen)}")
    return descriptor


def _open(path: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(path, "r:")
    except (tarfile.TarError, OSError) as exc:
        raise BundleError(f"{path.name}: not a tar file ({exc})") from exc


def _descriptor(tar: tarfile.TarFile, first: tarfile.TarInfo | None) -> Descriptor:
    if first is None or first.name != DESCRIPTOR or not first.isfile():
        raise BundleError(f"first member is not {DESCRIPTOR}")
    if first.size > MAX_DESCRIPTOR:
        raise BundleError(f"{DESCRIPTOR} is too large")
    source = tar.extractfile(first)
    assert source is not None
    return Descriptor.from_json(source.read())
