"""The bundle's base disk: the guest's state disk, formatted at build time.

Every VM's root disk is a copy-on-write overlay of this disk, mounted at
``/var/lib/kumo`` (host key, ``/home``, what ran once). Formatting it in
the guest on first boot (busybox ``mke2fs``, all inode tables written
under TCG) cost ~0.6 s of CPU and more of wall time on every first boot,
on the way to the first SSH login; made here once, by the host's
``mke2fs`` (e2fsprogs, part of every Debian system), it costs nothing at
boot. A flavor with a larger disk still gets a file system over the whole
disk: the guest makes one on first boot when the disk is larger than the
pristine image's (``rootfs/etc/init.d/rcS``).

Reproducible: a fixed UUID and directory hash seed, every time stamp
``epoch`` (``E2FSPROGS_FAKE_TIME``), inode tables and journal written out
at once (no lazy initialisation left for the guest's kernel to do at
boot), and ``qemu-img convert`` of the raw file (zero clusters are left
out, so the qcow2 stays small)."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

LABEL = "kumo-state"
FS_UUID = str(uuid.uuid5(uuid.NAMESPACE_URL, "kumo:guest:state-fs"))
HASH_SEED = str(uuid.uuid5(uuid.NAMESPACE_URL, "kumo:guest:state-fs:hash-seed"))
FEATURES = "^orphan_file,^metadata_csum_seed"
"""Left out for older guest kernels (both are newer than Linux 5.15)."""


class StateDiskError(RuntimeError):
    pass


def make(dest: Path, size: int, epoch: int, work: Path) -> None:
    """An ext4 file system of ``size`` bytes as the qcow2 image ``dest``."""
    raw = work / "state.raw"
    raw.unlink(missing_ok=True)
    with raw.open("wb") as f:
        f.truncate(size)
    env = {**os.environ, "E2FSPROGS_FAKE_TIME": str(epoch), "MKE2FS_CONFIG": "/dev/null"}
    try:
        _run(
            ["mke2fs", "-q", "-F", "-t", "ext4", "-b", "4096", "-I", "256", "-m", "0",
             "-L", LABEL, "-U", FS_UUID, "-O", f"has_journal,extent,huge_file,flex_bg,"
             f"metadata_csum,64bit,dir_nlink,extra_isize,{FEATURES}",
             "-E", f"hash_seed={HASH_SEED},lazy_itable_init=0,lazy_journal_init=0,nodiscard",
             str(raw)],
            env,
        )  # fmt: skip
        _run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(raw), str(dest)], env)
    finally:
        raw.unlink(missing_ok=True)


def _run(argv: list[str], env: dict[str, str]) -> None:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    except FileNotFoundError as exc:
        raise StateDiskError(f"{argv[0]} is missing (e2fsprogs, qemu-utils)") from exc
    if result.returncode != 0:
        raise StateDiskError(f"{' '.join(argv[:2])}: {result.stderr.strip()}")
