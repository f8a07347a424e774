"""A file pool: a directory of qcow2 files with a capacity.

Volumes are ``volume-ID.qcow2``, snapshots ``snapshot-ID.qcow2``. The free
capacity reported is the capacity less what the files really take on disk
(thin files take only what was written).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

GiB = 1 << 30


@dataclass(frozen=True)
class FilePool:
    name: str
    directory: Path
    capacity_gb: int

    @classmethod
    def parse(cls, text: str) -> FilePool:
        """``NAME:DIR:CAPACITY_GB`` (the directory may not contain ':')."""
        parts = text.split(":")
        if len(parts) != 3 or not parts[0] or not parts[1]:
            raise ValueError(f"--pool wants NAME:DIR:CAPACITY_GB, not {text!r}")
        try:
            capacity = int(parts[2])
        except ValueError:
            raise ValueError(
                f"--pool {text!r}: the capacity must be a whole number of GiB"
            ) from None
        if capacity < 1:
            raise ValueError(f"--pool {text!r}: the capacity must be at least 1 GiB")
        if any(c in parts[0] for c in "@#/ "):
            raise ValueError(f"--pool {text!r}: a pool name has no '@', '#', '/' or spaces")
        return cls(parts[0], Path(parts[1]), capacity)

    def volume(self, volume_id: str) -> Path:
        return self.directory / f"volume-{_safe(volume_id)}.qcow2"

    def snapshot(self, snapshot_id: str) -> Path:
        return self.directory / f"snapshot-{_safe(snapshot_id)}.qcow2"

    def used_bytes(self) -> int:
        total = 0
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return 0
        for entry in entries:
            if entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_blocks * 512
        return total

    def free_bytes(self) -> int:
        return max(self.capacity_gb * GiB - self.used_bytes(), 0)


def _safe(ident: str) -> str:
    """Ids come from the API; never let one name a path outside the pool."""
    if not ident or any(not (c.isalnum() or c == "-") for c in ident):
        raise ValueError(f"not a volume or snapshot id: {ident!r}")
    return ident
