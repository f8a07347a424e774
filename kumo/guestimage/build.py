"""``kumo image build``: the ``cirros`` guest bundle from Debian packages.

Inputs are the candidate versions (and index checksums) of the packages
below, kumo's guest files and this package's code, and the fixed time
stamp. Their digest is the build's *inputs key*: when the output's record
carries the same key and the bundle still matches its recorded checksum,
the build is skipped. Otherwise the packages come from the cache (or
``apt-get download``), are unpacked, and the bundle is assembled in a
temporary directory and renamed into place."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kumo.guestimage import bundle, debs, initramfs, statedisk

log = logging.getLogger(__name__)

NAME = "cirros"
BUILDER = 1
"""Bump when the output changes in a way the inputs key cannot see."""
PACKAGES = (
    "busybox-static",
    "dropbear-bin",
    "libc6",
    "libcrypt1",
    "zlib1g",
    "libtomcrypt1",
    "libtommath1",
    "libgmp10",
    "ndisc6",
)
"""Besides the cloud kernel: busybox, the SSH server and its libraries,
and ``rdisc6`` (from ndisc6: ~30 KB, libc only), which reads the DNS
servers of IPv6 router advertisements (RDNSS, DNSSL)."""
DEFAULT_EPOCH = 1704067200
"""2024-01-01T00:00:00Z: every file's mtime unless SOURCE_DATE_EPOCH says otherwise."""
CMDLINE = (
    "console=ttyS0 quiet no_timer_check cryptomgr.notests "
    "initcall_blacklist=crypto_kdf108_init,init_kprobe_trace"
)
"""``cryptomgr.notests``: no self-tests of every crypto algorithm at boot
(~0.4 s of CPU under TCG); the two initcalls left out are the KDF's own
self-test and the kprobe trace events' setup, neither used by the guest
(measured in docs/PERFORMANCE.md, "Where a VM's boot goes")."""
DISK_BYTES = 1 << 30
MIN_RAM_MB = 128
"""Measured: 64 MiB does not boot the cloud kernel with this initramfs."""
CONTAINER_FORMAT = "ova"
DISK_FORMAT = "qcow2"

DEFAULT_OUTPUT = Path("/var/lib/kumo/images")
DEFAULT_CACHE = Path("/var/cache/kumo/debs")


@dataclass(frozen=True)
class BuildResult:
    image: Path
    record: dict[str, Any]
    built: bool
    """False when an up-to-date image was already there."""


def source_epoch() -> int:
    raw = os.environ.get("SOURCE_DATE_EPOCH", "")
    return int(raw) if raw.isdigit() else DEFAULT_EPOCH


def _file_digest(path: Path, name: str = "sha256") -> str:
    digest = hashlib.new(name)
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def inputs_key(packages: list[debs.Deb], epoch: int) -> str:
    here = Path(__file__).parent
    files = sorted(
        (str(p.relative_to(here)), _file_digest(p))
        for p in [*here.glob("*.py"), *initramfs.ROOTFS.rglob("*")]
        if p.is_file()
    )
    doc = {
        "builder": BUILDER,
        "epoch": epoch,
        "packages": sorted(d.key() for d in packages),
        "files": files,
        "cmdline": CMDLINE,
        "disk_bytes": DISK_BYTES,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def paths(output: Path) -> tuple[Path, Path]:
    """The bundle and its record in ``output``."""
    return output / f"{NAME}.tar", output / f"{NAME}.json"


def up_to_date(output: Path, key: str) -> dict[str, Any] | None:
    image, record_path = paths(output)
    try:
        record: dict[str, Any] = json.loads(record_path.read_text())
    except (OSError, ValueError):
        return None
    if record.get("inputs") != key or not image.is_file():
        return None
    if image.stat().st_size != record.get("size") or _file_digest(image) != record.get("sha256"):
        return None
    return record


def build(
    output: Path = DEFAULT_OUTPUT, cache: Path = DEFAULT_CACHE, force: bool = False
) -> BuildResult:
    started = time.monotonic()
    epoch = source_epoch()
    kernel = debs.kernel_package()
    packages = debs.candidates([kernel, *PACKAGES])
    key = inputs_key(packages, epoch)
    image, record_path = paths(output)
    if not force and (record := up_to_date(output, key)) is not None:
        log.info("%s is up to date (%s)", image, record["sha256"][:12])
        return BuildResult(image, record, built=False)

    files = debs.fetch(packages, cache)
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kumo-image-", dir=output) as tmp:
        work = Path(tmp)
        unpacked = work / "unpacked"
        for deb in packages:
            debs.unpack(files[deb.name], unpacked)
        tree = work / "tree"
        tree.mkdir()
        initramfs.assemble(unpacked, tree)
        (tree / "etc/kumo/state-sectors").write_text(f"{DISK_BYTES // 512}\n")
        release = initramfs.kernel_release(unpacked)
        ramdisk = work / "initrd.img"
        ramdisk.write_bytes(initramfs.pack(tree, unpacked / "bin/busybox", epoch))
        disk = work / "disk.qcow2"
        statedisk.make(disk, DISK_BYTES, epoch, work)
        descriptor = bundle.Descriptor(
            kernel="vmlinuz",
            ramdisk="initrd.img",
            disk="disk.qcow2",
            cmdline=CMDLINE,
            min_ram_mb=MIN_RAM_MB,
            extra={
                "name": NAME,
                "architecture": "x86_64",
                "kernel_release": release,
                "packages": {d.name: d.version for d in packages},
            },
        )
        built = work / image.name
        bundle.write(
            built,
            descriptor,
            {
                "vmlinuz": unpacked / f"boot/vmlinuz-{release}",
                "initrd.img": ramdisk,
                "disk.qcow2": disk,
            },
            epoch,
        )
        record = _record(built, key, descriptor)
        os.replace(built, image)
    tmp_record = record_path.with_name(record_path.name + ".tmp")
    tmp_record.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    os.replace(tmp_record, record_path)
    log.info(
        "built %s in %.1f s: %d bytes, sha256 %s",
        image, time.monotonic() - started, record["size"], record["sha256"],
    )  # fmt: skip
    return BuildResult(image, record, built=True)


def _record(image: Path, key: str, descriptor: bundle.Descriptor) -> dict[str, Any]:
    """What the image API needs to register the bundle as a Glance image."""
    return {
        "name": NAME,
        "file": image.name,
        "size": image.stat().st_size,
        "sha256": _file_digest(image),
        "checksum": _file_digest(image, "md5"),
        "os_hash_algo": "sha512",
        "os_hash_value": _file_digest(image, "sha512"),
        "container_format": CONTAINER_FORMAT,
        "disk_format": DISK_FORMAT,
        "min_disk": DISK_BYTES >> 30,
        "min_ram": descriptor.min_ram_mb,
        "properties": {
            "architecture": "x86_64",
            "os_distro": "cirros",
            "os_type": "linux",
            "kumo_bundle": bundle.FORMAT,
            "kernel_release": descriptor.extra["kernel_release"],
        },
        "packages": descriptor.extra["packages"],
        "inputs": key,
    }


def clear_cache(cache: Path) -> None:
    shutil.rmtree(cache, ignore_errors=True)
