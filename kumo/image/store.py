"""The image store: one file per image in a directory.

``<root>/<image id>`` holds an active image's bytes (mode 0600, the
directory 0700). An upload is written to ``<root>/<image id>.<random>.part``
while it streams, hashed as it goes, flushed to disk and renamed onto the
image's name only once complete, so a reader never sees half an image and a
failed upload leaves nothing behind (``discard``). The root is
``state_dir/images`` by default; API servers that share one directory
(``KUMO_IMAGE_DIR`` on a shared mount) share one store, because a rename
within one directory is atomic there too.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import time
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600
PART = ".part"


class StagedFile:
    """An upload in progress: bytes written so far, their size and hashes."""

    def __init__(self, final: Path) -> None:
        self.final = final
        self.path = final.with_name(f"{final.name}.{secrets.token_hex(4)}{PART}")
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
        self._file: BinaryIO | None = os.fdopen(fd, "wb")
        self.size = 0
        self.committed = False
        self._md5 = hashlib.md5(usedforsecurity=False)
        self._sha512 = hashlib.sha512()

    def write(self, data: bytes) -> None:
        if self._file is None:
            raise ValueError("staged file already closed")
        self._file.write(data)
        self._md5.update(data)
        self._sha512.update(data)
        self.size += len(data)

    @property
    def checksum(self) -> str:
        return self._md5.hexdigest()

    @property
    def sha512(self) -> str:
        return self._sha512.hexdigest()

    def commit(self) -> None:
        """Make the bytes the image's data: flushed, synced, renamed into place
        (again: nothing to do)."""
        if self.committed:
            return
        if self._file is None:
            raise ValueError("staged file already closed")
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        os.replace(self.path, self.final)
        self.committed = True
        _sync_dir(self.final.parent)

    def discard(self) -> None:
        """Forget the bytes, committed or not: close and remove the file (idempotent)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        self.path.unlink(missing_ok=True)
        if self.committed:
            self.final.unlink(missing_ok=True)
            self.committed = False


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ImageStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _ensure_root(self) -> None:
        self.root.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)

    def path(self, image_id: str) -> Path:
        if not image_id or "/" in image_id or image_id.startswith("."):
            raise ValueError(f"not an image id: {image_id!r}")
        return self.root / image_id

    def stage(self, image_id: str) -> StagedFile:
        self._ensure_root()
        return StagedFile(self.path(image_id))

    def open(self, image_id: str) -> BinaryIO | None:
        """The image's bytes for reading, or None when the store has none.

        An open file stays readable if the image is deleted meanwhile."""
        try:
            return open(self.path(image_id), "rb")  # noqa: SIM115
        except FileNotFoundError:
            return None

    def has(self, image_id: str) -> bool:
        return self.path(image_id).exists()

    def delete(self, image_id: str) -> None:
        self.path(image_id).unlink(missing_ok=True)

    def sweep(self, older_than: float) -> list[Path]:
        """Remove partial files left by uploads that a crash interrupted (older
        than ``older_than`` seconds, so that live uploads elsewhere are safe)."""
        if not self.root.is_dir():
            return []
        cutoff = time.time() - older_than
        gone = []
        for p in self.root.glob(f"*{PART}"):
            try:
                if p.stat().st_mtime < cutoff:
                    p.unlink()
                    gone.append(p)
            except FileNotFoundError:
                continue
        if gone:
            log.warning(
                "image store %s: removed %d abandoned partial uploads", self.root, len(gone)
            )
        return gone
