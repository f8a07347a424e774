"""Pick a host: run the configured filters, then rank by the weighers."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from kumo.compute.scheduler.filters import FILTERS, Filter, forced_host_filter
from kumo.compute.scheduler.hosts import HostState, RequestSpec
from kumo.compute.scheduler.weighers import MULTIPLIERS, WEIGHERS, Weigher
from kumo.config import Settings

NO_VALID_HOST = "No valid host was found. There are not enough hosts available."


def _resolve(name: str, table: dict[str, Any]) -> Callable[..., Any]:
    """A registered name, or ``package.module:function`` for a plug-in."""
    if name in table:
        found: Callable[..., Any] = table[name]
        return found
    module, _, attr = name.partition(":")
    if not attr:
        raise ValueError(f"unknown scheduler plug-in {name!r}")
    plugin: Callable[..., Any] = getattr(importlib.import_module(module), attr)
    return plugin


def filters(settings: Settings) -> list[Filter]:
    return [forced_host_filter] + [_resolve(n, FILTERS) for n in settings.scheduler_filters if n]


def weighers(settings: Settings) -> list[Weigher]:
    return [_resolve(n, WEIGHERS) for n in settings.scheduler_weighers if n]


def select(hosts: list[HostState], spec: RequestSpec, settings: Settings) -> HostState | None:
    hosts = sorted(hosts, key=lambda h: h.host)
    candidates = [h for h in hosts if all(f(h, spec, settings) for f in filters(settings))]
    if not candidates:
        return None
    totals = [0.0] * len(candidates)
    for weigh in weighers(settings):
        raw = [weigh(h, spec, settings) for h in candidates]
        low, high = min(raw), max(raw)
        if high > low:
            share = MULTIPLIERS.get(weigh, 1.0)
            for i, value in enumerate(raw):
                totals[i] += share * (value - low) / (high - low)
    # max() keeps the first of equals: ties go to the first host by name
    best = max(range(len(candidates)), key=lambda i: totals[i])
    return candidates[best]
