"""What a process exposes on ``/metrics``.

One process: prometheus_client's default registry. Several uvicorn workers
(``kumo serve --workers N``): each writes its values to memory-mapped files
in one directory for the run (``PROMETHEUS_MULTIPROC_DIR``, made fresh by
``kumo serve`` before the workers start) and whichever worker answers a
scrape sums them all, so a scrape sees the whole server, not one worker.
The environment variable must be set before prometheus_client is first
imported (it picks its value store then).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def prepare_directory(base: Path) -> Path:
    """A fresh, empty directory for this run's metric files
    (``base/serve-<pid>``); the directories of runs no longer alive go."""
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    for old in base.glob("serve-*"):
        pid = old.name.removeprefix("serve-")
        if pid.isdigit() and (int(pid) == os.getpid() or not _alive(int(pid))):
            shutil.rmtree(old, ignore_errors=True)
    run = base / f"serve-{os.getpid()}"
    run.mkdir(mode=0o700)
    return run


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def render() -> tuple[bytes, str]:
    """(body, content type) of a scrape of this process (or of all the
    workers of its run)."""
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
    from prometheus_client import multiprocess as mp
    from prometheus_client.exposition import CONTENT_TYPE_LATEST

    if multiprocess():
        registry = CollectorRegistry()
        mp.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def process_exited() -> None:
    """A worker is about to exit: drop its live gauges (subscribers,
    connections in use) from the run's sums."""
    if multiprocess():
        from prometheus_client import multiprocess as mp

        mp.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
