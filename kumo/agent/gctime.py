"""Time the process spends in Python's cyclic garbage collector.

An agent holds every port's views and plan objects; a full collection walks
them all, and whichever thread allocates at that moment waits. The meter
lets the agent's slow-pass log say how much of a pass that was.
"""

from __future__ import annotations

import gc
import threading
import time
from typing import Any


class GcMeter:
    def __init__(self) -> None:
        self.total = 0.0
        """Seconds spent collecting since ``install``."""
        self.collections = 0
        self._started: float | None = None
        self._lock = threading.Lock()

    def install(self) -> GcMeter:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)
        return self

    def uninstall(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        now = time.perf_counter()
        with self._lock:
            if phase == "start":
                self._started = now
            elif self._started is not None:
                self.total += now - self._started
                self.collections += 1
                self._started = None
