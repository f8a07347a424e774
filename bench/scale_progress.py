"""What ``bench/scale.py --progress`` shows: its agents' processes report
their CPU by thread role and their warnings by kind (``Warnings``,
``cpu_by_role``, called in the worker processes); the driver sums the
workers' answers and prints them on stderr (``show_*``)."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

FRESH = ("watch", "worker", "heartbeat")
"""The roles of an agent's own threads (``kumo-agent-<role>``)."""


# -- in a worker process ------------------------------------------------------------------


class Warnings(logging.Handler):
    """Counts the agents' warnings by their text's pattern and the class of
    the exception they name; errors go on to stderr."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: dict[str, int] = {}
        self.errors = logging.StreamHandler()

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR:
            self.errors.handle(record)
            return
        named = [type(a).__name__ for a in record.args or () if isinstance(a, BaseException)]
        key = " ".join([str(record.msg)[:40], *named])
        self.counts[key] = self.counts.get(key, 0) + 1


def cpu_by_role() -> tuple[dict[str, float], float]:
    """This process's CPU seconds by the role of the threads that spent it
    (an agent's watch, worker or heartbeat thread, or ``other``; what
    threads no longer running spent, the replaced agents' and the starting
    threads', counts as ``ended``), and its CPU seconds in the kernel."""
    tick = os.sysconf("SC_CLK_TCK")
    roles: dict[str, float] = {}
    live = 0.0
    for thread in threading.enumerate():
        try:
            stat = Path(f"/proc/self/task/{thread.native_id}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        spent = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        name = thread.name
        role = name.removeprefix("kumo-agent-") if name.startswith("kumo-agent-") else "other"
        roles[role] = roles.get(role, 0.0) + spent
        live += spent
    roles["ended"] = time.process_time() - live
    return roles, os.times().system


# -- in the driver ------------------------------------------------------------------------


def summed(parts: Iterable[dict[str, float]]) -> dict[str, float]:
    """The workers' answers added up, key by key."""
    totals: dict[str, float] = {}
    for part in parts:
        for k, v in part.items():
            totals[k] = totals.get(k, 0.0) + v
    return totals


def cpu_roles(answers: Iterable[tuple[dict[str, float], float]]) -> tuple[dict[str, float], float]:
    """The workers' ``cpu_by_role`` answers added up."""
    answers = list(answers)
    return summed(roles for roles, _ in answers), sum(kernel for _, kernel in answers)


def _say(line: str) -> None:
    print(f"  {line}", file=sys.stderr, flush=True)


def show_line(since: float, synced: int, stats: Iterable[dict[str, float]], cpu: float) -> None:
    """Agents in sync, the agents' counters (workers' ``stats`` answers) and CPU."""
    counts = " ".join(f"{k} {v:.0f}" for k, v in sorted(summed(stats).items()))
    _say(f"{since:6.1f} s: {synced} in sync; {counts}; cpu {cpu:.1f} s")


def show_warnings(label: str, answers: Iterable[dict[str, float]]) -> None:
    """The agents' warnings so far, by kind, the most frequent first."""
    for k, v in sorted(summed(answers).items(), key=lambda kv: -kv[1]):
        _say(f"{label}: {v:.0f} warnings: {k}")


def show_roles(label: str, was: tuple[dict[str, float], float],
               now: tuple[dict[str, float], float], hosts: int) -> None:  # fmt: skip
    """CPU ms per agent by thread role between ``was`` and ``now`` (an
    agent's threads started after ``was`` count whole), and of all of it,
    how much in the kernel."""
    (before, kernel_before), (after, kernel_after) = was, now
    spent = {k: v - before.get(k, 0.0) for k, v in after.items()}
    for k in FRESH:  # new threads: all they spent is since ``was``
        spent[k] = after.get(k, 0.0)
    spent["rest"] = sum(after.values()) - sum(before.values()) - sum(spent[k] for k in FRESH)
    shown = ", ".join(f"{k} {spent[k] / hosts * 1e3:.1f}" for k in (*FRESH, "rest"))
    shown += f"; in the kernel {(kernel_after - kernel_before) / hosts * 1e3:.1f}"
    _say(f"{label}: agents' CPU ms per agent by thread: {shown}")
