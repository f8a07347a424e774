"""The bundle's state disk is an ext4 file system made at build time (the
guest formats nothing on first boot), the same bytes every build."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from kumo.guestimage import statedisk

pytestmark = pytest.mark.skipif(
    not all(shutil.which(p) for p in ("mke2fs", "qemu-img")), reason="needs e2fsprogs, qemu-utils"
)

SIZE = 64 << 20


def test_state_disk_is_ext4_and_reproducible(tmp_path: Path) -> None:
    digests = []
    for k in (1, 2):
        work = tmp_path / str(k)
        work.mkdir()
        disk = work / "disk.qcow2"
        statedisk.make(disk, SIZE, 1704067200, work)
        digests.append(hashlib.sha256(disk.read_bytes()).hexdigest())
        assert list(work.iterdir()) == [disk]  # the raw file is gone
    assert digests[0] == digests[1]

    raw = tmp_path / "back.raw"
    subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(disk), str(raw)],
                   check=True)  # fmt: skip
    with raw.open("rb") as f:
        f.seek(1024)
        superblock = f.read(1024)
    assert superblock[56:58] == b"\x53\xef"  # ext2/3/4 magic
    assert superblock[120:136].rstrip(b"\0") == statedisk.LABEL.encode()
    assert raw.stat().st_size == SIZE
