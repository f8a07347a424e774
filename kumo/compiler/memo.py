"""Remembered answers of pure functions, per key, for inputs that repeat.

A compile with 1,000 ports on a host asks the same questions pass after
pass: each network's leases, each port's objects. The agent's cache keeps
every object it parsed until that object changes, so a network's inputs
from one pass to the next are the same objects: comparing them costs an
identity check per element, where hashing them (``functools.lru_cache``)
costs a walk through every field of every port.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

R = TypeVar("R")


class LastAnswer(Generic[R]):
    """Per key, the inputs and answer of the last call: the same inputs
    (equal, element by element: identical objects compare at once) give
    the same answer without calling again."""

    def __init__(self, limit: int = 1 << 14) -> None:
        self._last: dict[object, tuple[tuple[object, ...], R]] = {}
        self._limit = limit

    def get(self, key: object, make: Callable[..., R], *inputs: Any) -> R:
        """``make(*inputs)``, or the answer it gave last time for ``key``
        when ``inputs`` are the same."""
        known = self._last.get(key)
        if known is not None and known[0] == inputs:
            return known[1]
        answer = make(*inputs)
        if len(self._last) >= self._limit:
            self._last.clear()
        self._last[key] = (inputs, answer)
        return answer


HOSTS_KEPT = 4096
"""How many hosts' last compiles (firewall state, plan) one process keeps.
An agent compiles for its one host; a process holding many simulated hosts
(``bench/scale.py`` holds hundreds per process) must keep each host's state
until that host's next pass, or every pass starts from nothing (with 64 kept
and 150 hosts per process, each pass of a host in the 1,000-member group
counted every member again)."""
