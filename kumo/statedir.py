"""The API server's state directory and who may read it.

The directory holds the SQLite database (password hashes and the signing
keys of every token) and ``clouds.yaml`` (the admin's password), so the
directory is 0700 and those files 0600. ``secure`` runs at every start of
``kumo serve``: it makes what is missing with the right mode and narrows,
with a warning in the log, any mode that lets group or others in.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from kumo.config import Settings

log = logging.getLogger(__name__)

DIR_MODE = 0o700
FILE_MODE = 0o600
SECRET_FILES = ("clouds.yaml", "fernet.key")
"""Secrets by name in the state directory (``fernet.key``: where the token
key lived before the keys moved into the database; kept private if left)."""


def sqlite_path(settings: Settings) -> Path | None:
    """The SQLite database file, or None for another engine or an in-memory one."""
    url = settings.resolved_database_url
    if not url.startswith("sqlite"):
        return None
    path = url.split("///", 1)[-1] if "///" in url else ""
    return Path(path) if path and path != ":memory:" else None


def _narrow(path: Path, mode: int, what: str) -> bool:
    """Clear group and other bits of ``path`` if any are set; True if it did."""
    current = stat.S_IMODE(path.stat().st_mode)
    if not current & 0o077:
        return False
    log.warning(
        "%s %s had mode %04o, readable beyond its owner: set to %04o",
        what, path, current, mode,
    )  # fmt: skip
    os.chmod(path, mode)
    return True


def secure(settings: Settings) -> list[Path]:
    """Create the state directory (0700) and the SQLite file (0600) if missing;
    narrow the modes of the directory, the database and the secrets. The
    paths whose mode was changed."""
    fixed: list[Path] = []
    state = settings.state_dir
    state.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if _narrow(state, DIR_MODE, "state directory"):
        fixed.append(state)
    files = [state / name for name in SECRET_FILES]
    db = sqlite_path(settings)
    if db is not None:
        db.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        try:  # SQLite takes an empty file as a new database and keeps its mode
            os.close(os.open(db, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
        except FileExistsError:
            pass
        files += [db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")]
    for path in files:
        if path.exists() and _narrow(path, FILE_MODE, "file"):
            fixed.append(path)
    return fixed
