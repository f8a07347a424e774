"""A lab's own PostgreSQL, for ``kumo up --api-servers N`` (several API servers need one).

The machine's PostgreSQL server programs (the ``postgresql`` package) run
a cluster of the lab's own: its data under ``DATA_ROOT/<lab name>`` (kept
across restarts of the lab, as its SQLite database would be; ``kumo down
--purge`` removes it), listening on 127.0.0.1 and a port picked at each
start, run as the ``postgres`` user (the server refuses to run as root).
The same setup as ``scripts/pg.sh``, which the tests use.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

DATA_ROOT = Path("/var/tmp/kumo-lab-postgres")
"""Not under the lab's state directory: the ``postgres`` user must reach
the data, and a state directory may sit below directories only root may
enter."""


class PostgresMissing(RuntimeError):
    """The PostgreSQL server programs are not installed."""


def bindir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=_version)
    if not found:
        raise PostgresMissing(
            "several API servers need PostgreSQL: apt-get install -y postgresql "
            "(or give --database-url)"
        )
    return found[-1].parent


def _version(pg_ctl: Path) -> tuple[int, ...]:
    return tuple(int(p) for p in pg_ctl.parent.parent.name.split(".") if p.isdigit())


def data_dir(lab: str) -> Path:
    return DATA_ROOT / lab


def _as_postgres(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def start(lab: str, port: int) -> str:
    """Start (making it first if need be) the lab's cluster on ``port``;
    its SQLAlchemy URL."""
    where = data_dir(lab)
    DATA_ROOT.mkdir(mode=0o755, parents=True, exist_ok=True)
    where.mkdir(mode=0o700, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(where, "postgres", "postgres")
    bins = bindir()
    if not (where / "data" / "PG_VERSION").exists():
        _run([str(bins / "initdb"), "-D", str(where / "data"), "-U", "kumo", "--auth=trust",
              "-E", "UTF8"], where / "initdb.log")  # fmt: skip
    options = (
        f"-c listen_addresses=127.0.0.1 -p {port} -k {where} -c max_connections=200 "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    _run([str(bins / "pg_ctl"), "-D", str(where / "data"), "-l", str(where / "server.log"),
          "-w", "-t", "60", "-o", options, "start"], where / "pg_ctl.log")  # fmt: skip
    return f"postgresql+psycopg://kumo@127.0.0.1:{port}/postgres"


def stop(lab: str) -> None:
    """Stop the lab's cluster if it runs (fast shutdown: connections are cut)."""
    where = data_dir(lab)
    if not (where / "data" / "postmaster.pid").exists():
        return
    subprocess.run(
        _as_postgres([str(bindir() / "pg_ctl"), "-D", str(where / "data"), "-m", "fast", "-w",
                      "stop"]),
        capture_output=True,
    )  # fmt: skip


def remove(lab: str) -> None:
    """Stop the cluster and remove its data."""
    stop(lab)
    shutil.rmtree(data_dir(lab), ignore_errors=True)


def _run(argv: list[str], log: Path) -> None:
    done = subprocess.run(_as_postgres(argv), capture_output=True, text=True)
    if done.returncode != 0:
        log.write_text(done.stdout + done.stderr)
        raise RuntimeError(f"{Path(argv[0]).name} failed: {(done.stdout + done.stderr)[-1500:]}")
