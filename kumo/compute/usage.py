"""Usage per project (Nova's ``os-simple-tenant-usage``), from server lifetimes.

A server counts from ``launched_at`` to ``terminated_at`` (or the end of
the period), clipped to the period; one never launched counts zero hours
but is listed. Hours times the flavor's vCPUs, memory and disk give the
totals. Pure: the rows come from ``records``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

ISO = "%Y-%m-%dT%H:%M:%S.%f"


@dataclass(frozen=True)
class Lifetime:
    server_id: str
    project_id: str
    name: str
    flavor: str
    vcpus: int
    memory_mb: int
    local_gb: int
    state: str
    launched_at: dt.datetime | None
    terminated_at: dt.datetime | None


def hours(
    life: Lifetime, start: dt.datetime, stop: dt.datetime, now: dt.datetime | None = None
) -> float:
    """Hours of ``life`` within [start, stop]; a server still running counts
    until ``now`` at most (a period ending in the future holds no usage yet)."""
    if life.launched_at is None:
        return 0.0
    begin = max(life.launched_at, start)
    if life.terminated_at is not None:
        end = min(life.terminated_at, stop)
    else:
        end = stop if now is None else min(stop, now)
    if end <= begin:
        return 0.0
    return (end - begin).total_seconds() / 3600.0


def server_usage(
    life: Lifetime, start: dt.datetime, stop: dt.datetime, now: dt.datetime
) -> dict[str, Any]:
    """One entry of ``server_usages``."""
    ended = life.terminated_at
    uptime_end = ended if ended is not None else now
    launched = life.launched_at
    return {
        "instance_id": life.server_id,
        "name": life.name,
        "hours": hours(life, start, stop, now),
        "memory_mb": life.memory_mb,
        "local_gb": life.local_gb,
        "vcpus": life.vcpus,
        "tenant_id": life.project_id,
        "flavor": life.flavor,
        "started_at": _ts(launched),
        "ended_at": _ts(ended),
        "state": "terminated" if ended is not None else life.state,
        "uptime": int((uptime_end - launched).total_seconds()) if launched is not None else 0,
    }


def tenant_usage(
    project_id: str,
    lives: list[Lifetime],
    start: dt.datetime,
    stop: dt.datetime,
    now: dt.datetime,
    *,
    detailed: bool,
) -> dict[str, Any]:
    """One project's ``tenant_usage`` over [start, stop]."""
    servers = [server_usage(life, start, stop, now) for life in lives]
    out: dict[str, Any] = {
        "tenant_id": project_id,
        "total_local_gb_usage": sum(s["hours"] * s["local_gb"] for s in servers),
        "total_vcpus_usage": sum(s["hours"] * s["vcpus"] for s in servers),
        "total_memory_mb_usage": sum(s["hours"] * s["memory_mb"] for s in servers),
        "total_hours": sum(s["hours"] for s in servers),
        "start": _ts(start),
        "stop": _ts(stop),
    }
    if detailed:
        out["server_usages"] = servers
    return out


def usages(
    lives: list[Lifetime],
    start: dt.datetime,
    stop: dt.datetime,
    now: dt.datetime,
    *,
    detailed: bool,
) -> list[dict[str, Any]]:
    """Every project's usage, one entry per project with a server in the period."""
    by_project: dict[str, list[Lifetime]] = {}
    for life in lives:
        by_project.setdefault(life.project_id, []).append(life)
    return [
        tenant_usage(p, by_project[p], start, stop, now, detailed=detailed)
        for p in sorted(by_project)
    ]


def in_period(life: Lifetime, start: dt.datetime, stop: dt.datetime) -> bool:
    """Whether the server existed at some time in [start, stop] (as Nova
    selects: not terminated before the start, not launched after the end)."""
    if life.terminated_at is not None and life.terminated_at < start:
        return False
    return not (life.launched_at is not None and life.launched_at > stop)


def parse_time(value: str | None, field: str, now: dt.datetime) -> dt.datetime:
    """A ``start``/``end`` parameter (ISO 8601, naive or with an offset: kept
    in UTC); absent: now."""
    from kumo.errors import BadRequest

    if value is None or value == "":
        return now
    text = value.strip().replace(" ", "T")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"Invalid {field} time. The {field} time must be ISO 8601.") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


def _ts(value: dt.datetime | None) -> str | None:
    return value.strftime(ISO) if value is not None else None
