"""The running labs of this machine: one small JSON file per lab in
/run/kumo/labs (``$KUMO_LAB_REGISTRY``), written by the lab's supervisor
when it starts and removed when it stops.

An entry names the lab's supervisor process, state directory, namespace
prefix and API address, so that any shell finds a lab by its name (or the
only running one) and ``kumo down`` can signal the supervisor that owns
it. An entry whose supervisor is gone is stale and is dropped on read.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from kumo.lab import naming


def registry_dir() -> Path:
    return Path(os.environ.get("KUMO_LAB_REGISTRY", "/run/kumo/labs"))


@dataclass(frozen=True)
class Entry:
    name: str
    pid: int
    """The supervisor: ``kumo up`` in the foreground, or its detached copy."""
    state_dir: str
    prefix: str
    api_url: str
    ready: bool = False
    """False while the lab is being built."""

    @property
    def control_socket(self) -> Path:
        return control_socket(self.name)

    def describe(self) -> str:
        return (
            f"lab {self.name!r} (supervisor pid {self.pid}, API {self.api_url}, "
            f"state {self.state_dir})"
        )


class LabNotFound(LookupError):
    pass


def _path(name: str) -> Path:
    return registry_dir() / f"{name}.json"


def control_socket(name: str) -> Path:
    return registry_dir() / f"{name}.sock"


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not count)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def write(entry: Entry) -> None:
    path = _path(entry.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(entry), indent=2))
    os.replace(tmp, path)


@contextmanager
def locked() -> Iterator[None]:
    """Hold the machine's registry lock: labs starting at the same moment
    choose their ports and register one after the other."""
    folder = registry_dir()
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def claim(entry: Entry) -> Entry | None:
    """Register ``entry`` unless a live lab holds its name; return that lab."""
    path = _path(entry.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            held = get(entry.name)
            if held is not None:
                return held
            continue  # stale: get() dropped it
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(asdict(entry), indent=2))
        return None


def remove(name: str, pid: int | None = None) -> None:
    """Drop ``name``'s entry (only if it is ``pid``'s, when given)."""
    path = _path(name)
    if pid is not None:
        current = _read(path)
        if current is not None and current.pid != pid:
            return
    path.unlink(missing_ok=True)
    control_socket(name).unlink(missing_ok=True)


def _read(path: Path) -> Entry | None:
    try:
        return Entry(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def get(name: str) -> Entry | None:
    """The running lab ``name``, or None (a stale entry is removed)."""
    path = _path(name)
    entry = _read(path)
    if entry is None:
        if path.exists() and not _fresh(path):
            path.unlink(missing_ok=True)
        return None
    if not alive(entry.pid):
        remove(name, entry.pid)
        return None
    return entry


def _fresh(path: Path) -> bool:
    """A file just created and not yet written is not stale."""
    import time

    try:
        return time.time() - path.stat().st_mtime < 5
    except OSError:
        return False


def running() -> list[Entry]:
    folder = registry_dir()
    if not folder.is_dir():
        return []
    found = (get(p.stem) for p in sorted(folder.glob("*.json")))
    return [e for e in found if e is not None]


def by_state_dir(state_dir: Path) -> Entry | None:
    want = state_dir.resolve()
    for entry in running():
        if Path(entry.state_dir).resolve() == want:
            return entry
    return None


def by_port(port: int) -> Entry | None:
    for entry in running():
        if entry.api_url.rsplit(":", 1)[-1] == str(port):
            return entry
    return None


def resolve(name: str | None) -> Entry:
    """The lab a command works on: ``name``, else ``$KUMO_LAB``, else the
    lab ``default`` if it runs, else the only running lab."""
    name = name or os.environ.get("KUMO_LAB") or None
    if name is not None:
        entry = get(name)
        if entry is None:
            raise LabNotFound(f"no lab named {name!r} is running{_others()}")
        return entry
    labs = running()
    for entry in labs:
        if entry.name == naming.DEFAULT_NAME:
            return entry
    if len(labs) == 1:
        return labs[0]
    if not labs:
        raise LabNotFound("no lab is running (start one with `kumo up`)")
    raise LabNotFound(
        "several labs are running: "
        + ", ".join(e.name for e in labs)
        + "; choose one with --name NAME (or KUMO_LAB=NAME)"
    )


def _others() -> str:
    labs = running()
    if not labs:
        return ""
    return " (running: " + ", ".join(e.name for e in labs) + ")"
