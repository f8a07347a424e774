"""Helpers shared by the benchmarks: start a throwaway ``kumo serve``, get tokens, stats."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import yaml

from kumo.identity.authbody import password_auth

ROOT = Path(__file__).resolve().parent.parent
KUMO = str(ROOT / ".venv" / "bin" / "kumo")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    base: str
    state_dir: Path
    admin_password: str
    proc: subprocess.Popen[bytes]

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the server and its worker processes have used so far.

        Unlike latency, it barely moves when other jobs load the machine, so
        it compares two trees fairly on a shared machine.
        """
        return process_tree_cpu(self.proc.pid)

    def token(self, project: str = "admin") -> str:
        body = password_auth("admin", self.admin_password, project_name=project)
        r = httpx.post(f"{self.base}/identity/v3/auth/tokens", json=body, timeout=30)
        r.raise_for_status()
        return r.headers["X-Subject-Token"]


def process_tree_cpu(root: int) -> float:
    """utime + stime, in seconds, of ``root`` and its live descendants (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        # fields[1] is the parent's pid, fields[11] and fields[12] utime and stime
        stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += stats.get(pid, (0, 0.0))[1]
        todo.extend(child for child, (parent, _) in stats.items() if parent == pid)
    return total


def exit_on_sigterm() -> None:
    """Make SIGTERM (``timeout``, ``kill``) unwind like Ctrl-C does, so the
    ``finally`` blocks that stop throwaway servers and databases run.

    Python's default for SIGTERM ends the process at once, leaving every
    ``kumo serve`` it started running. Only from the main thread, and only
    while no other handler is installed.
    """
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return
    try:
        signal.signal(signal.SIGTERM, _raise_exit)
    except ValueError:  # not the main thread
        pass


def _raise_exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def kumo_server(
    database_url: str | None = None, workers: int = 1, extra: tuple[str, ...] = ()
) -> Iterator[Server]:
    """Start ``kumo serve`` on a free loopback port with a fresh state dir
    (``extra``: further options, e.g. ``--no-metrics``)."""
    exit_on_sigterm()
    with kept_on_failure(Path(tempfile.mkdtemp(prefix="kumo-bench-"))) as state:
        yield from _serve(state, database_url, workers, extra)


@contextlib.contextmanager
def kept_on_failure(state: Path) -> Iterator[Path]:
    """A bench's state directory, removed when the block ends normally and
    kept (its path printed) when it raises or is stopped, for its logs;
    ``KUMO_BENCH_KEEP=1`` keeps it always."""
    try:
        yield state
    except BaseException:
        print(f"state kept in {state}", file=sys.stderr)
        raise
    if os.environ.get("KUMO_BENCH_KEEP") == "1":
        print(f"state kept in {state}", file=sys.stderr)
    else:
        shutil.rmtree(state, ignore_errors=True)


def _serve(
    state: Path, database_url: str | None, workers: int, extra: tuple[str, ...]
) -> Iterator[Server]:
    port = free_port()
    cmd = [KUMO, "serve", "--state-dir", str(state), "--port", str(port)]
    cmd += ["--workers", str(workers), *extra]
    if database_url:
        cmd += ["--database-url", database_url]
    log = open(state / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180  # a loaded machine starts it slowly
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"kumo serve exited: {(state / 'server.log').read_text()}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("kumo serve did not come up")
            time.sleep(0.1)
        # A server joining a database another one set up writes no clouds.yaml.
        written = state / "clouds.yaml"
        clouds = yaml.safe_load(written.read_text()) if written.exists() else None
        password = clouds["clouds"]["kumo"]["auth"]["password"] if clouds else ""
        yield Server(base=base, state_dir=state, admin_password=password, proc=proc)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def summary_ms(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 50) * 1000:.1f} ms, p99 {percentile(values, 99) * 1000:.1f} ms"
        f" (n={len(values)}, mean {statistics.fmean(values) * 1000:.1f} ms)"
    )


def machine() -> str:
    cpus = os.cpu_count()
    return (
        f"{os.uname().sysname} {os.uname().release}, {cpus} vCPU, Python {sys.version.split()[0]}"
    )


HELD_STATES = (
    ("kumo.compiler.firewall", "_STATES"), ("kumo.compiler.compile", "_NETWORK_PARTS"),
    ("kumo.compiler.metadata", "_NETWORK_CLIENTS"), ("kumo.compiler.compile", "_LAST_PLANS"),
    ("kumo.dataplane.reconcilers.base", "_DIFFS"),
    ("kumo.dataplane.reconcilers.base", "_LINKS_BY_NS"),
    ("kumo.dataplane.reconcilers.keyed", "_LINK_SETS"),
    ("kumo.compiler.dns", "_ZONE_STATES"), ("kumo.compiler.dhcp", "_LEASE_STATES"),
    ("kumo.compiler.dhcp", "_HOST_LEASES"), ("kumo.compiler.qos", "_STATES"),
)  # fmt: skip
"""What kumo's modules keep per host across passes (a tree may lack some)."""


def forget_kumo_memory() -> None:
    """Drop what kumo's modules remember across an agent's passes (every
    ``LastAnswer``, ``lru_cache`` and per-host state, in whichever tree is
    imported): the next pass is a new agent process's, as on a restarted host."""
    from kumo.compiler.memo import LastAnswer

    for name, module in list(sys.modules.items()):
        if not name.startswith("kumo."):
            continue
        for value in list(vars(module).values()):
            if isinstance(value, LastAnswer):
                value._last = {}
            elif callable(getattr(value, "cache_clear", None)):
                value.cache_clear()
    for module_name, attr in HELD_STATES:
        held = getattr(sys.modules.get(module_name), attr, None)
        if held is not None:
            held.clear()


@contextlib.contextmanager
def environ(name: str, value: str | None) -> Iterator[None]:
    """``name`` set to ``value`` in this process's environment (and so in the
    processes it starts) for the block; None leaves it as it is."""
    saved = os.environ.get(name)
    if value is not None:
        os.environ[name] = value
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = saved
