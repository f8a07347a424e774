"""``qemu-img`` as the storage agent uses it: create, copy, convert, grow, measure.

Each operation writing a new file writes ``NAME.part`` and renames it into
place once complete, so a file under its final name is always whole (an
agent killed half-way leaves a ``.part`` that the next attempt replaces).
Failures raise ``QemuError`` with qemu-img's own message.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

QEMU_IMG = os.environ.get("KUMO_QEMU_IMG", "qemu-img")
GiB = 1 << 30


class QemuError(Exception):
    pass


def _run(*args: str, timeout: float = 3600) -> str:
    try:
        done = subprocess.run(
            [QEMU_IMG, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise QemuError(f"{QEMU_IMG} is not installed (Debian: qemu-utils)") from None
    except subprocess.TimeoutExpired:
        raise QemuError(f"qemu-img {args[0]} took longer than {timeout:.0f}s") from None
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip().splitlines()
        raise QemuError(message[-1] if message else f"qemu-img {args[0]} failed")
    return done.stdout


def _part(path: Path) -> Path:
    return path.with_name(path.name + ".part")


def create(path: Path, size_gb: int) -> None:
    """A blank qcow2 volume of ``size_gb`` GiB (thin: it holds no data yet)."""
    part = _part(path)
    part.unlink(missing_ok=True)
    _run("create", "-q", "-f", "qcow2", str(part), f"{size_gb}G")
    os.replace(part, path)


def copy(
    source: Path,
    path: Path,
    size_gb: int | None = None,
    source_format: str = "qcow2",
    *,
    shared: bool = False,
) -> None:
    """A full, independent qcow2 copy of ``source`` (a ``source_format``
    file; only allocated data is written), grown to ``size_gb`` GiB when
    that is larger. ``shared``: the source is open in the storage daemon
    (a replicated volume its mirror holds, with no writer attached): read
    it without taking its lock."""
    if source_format not in ("qcow2", "raw"):
        raise QemuError(f"cannot copy a {source_format} disk into a volume")
    part = _part(path)
    part.unlink(missing_ok=True)
    share = ["-U"] if shared else []
    _run("convert", "-q", *share, "-f", source_format, "-O", "qcow2", str(source), str(part))
    if size_gb is not None and virtual_size(part) < size_gb * GiB:
        _run("resize", "-q", "-f", "qcow2", str(part), f"{size_gb}G")
    os.replace(part, path)


def convert(source: Path, path: Path, out_format: str, *, shared: bool = False) -> None:
    """``source`` (a qcow2 volume or snapshot) written as an ``out_format``
    image (qemu-img's format names: ``raw``, ``qcow2``, ``vmdk``, ``vdi``,
    ``vhdx``, ``vpc``); ``shared`` as for ``copy``."""
    part = _part(path)
    part.unlink(missing_ok=True)
    share = ["-U"] if shared else []
    try:
        _run("convert", "-q", *share, "-f", "qcow2", "-O", out_format, str(source), str(part))
    except QemuError:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, path)


def resize(path: Path, size_gb: int) -> None:
    """Grow to ``size_gb`` GiB (nothing to do when it is that large already)."""
    if virtual_size(path) >= size_gb * GiB:
        return
    _run("resize", "-q", "-f", "qcow2", str(path), f"{size_gb}G")


def virtual_size(path: Path, *, shared: bool = False) -> int:
    """``shared``: the file is open in the storage daemon (read it unlocked)."""
    share = ["-U"] if shared else []
    info = json.loads(_run("info", "--output=json", *share, "-f", "qcow2", str(path)))
    return int(info["virtual-size"])
