"""The host's metering totals: per label, what its router namespaces
counted since the agent started, never going down.

The kernel's counters start from zero whenever a table is written anew
(a label or rule changed, a router namespace made again): each reading is
keyed by (namespace, table fingerprint), and only what a counter gained
since the last reading of the same key is added. What a table counted
between the last reading and its rewrite is lost (at most one report
interval's worth).
"""

from __future__ import annotations

import threading

Reading = dict[tuple[str, str], dict[str, tuple[int, int]]]


class MeterTotals:
    def __init__(self) -> None:
        self.totals: dict[str, tuple[int, int]] = {}
        """Label id → (bytes, packets)."""
        self._last: dict[tuple[str, str], dict[str, tuple[int, int]]] = {}
        self._lock = threading.Lock()
        self.reported: dict[str, tuple[int, int]] | None = None
        """The totals the API last accepted."""

    def snapshot(self) -> dict[str, tuple[int, int]]:
        with self._lock:
            return dict(self.totals)

    def update(self, reading: Reading) -> dict[str, tuple[int, int]]:
        """Add a reading (see ``MeterReconciler.read``); the new totals."""
        with self._lock:
            return self._update(reading)

    def _update(self, reading: Reading) -> dict[str, tuple[int, int]]:
        for key, counters in reading.items():
            before = self._last.get(key, {})
            for label, (nbytes, packets) in counters.items():
                b0, p0 = before.get(label, (0, 0))
                if nbytes < b0 or packets < p0:  # the counter started again
                    b0 = p0 = 0
                tb, tp = self.totals.get(label, (0, 0))
                self.totals[label] = (tb + nbytes - b0, tp + packets - p0)
            self._last[key] = dict(counters)
        # A namespace whose table was rewritten: its old readings are done
        # with (one that could not be read this time keeps its last).
        fresh = {netns: fp for netns, fp in reading}
        for netns, fp in list(self._last):
            if netns in fresh and fresh[netns] != fp:
                del self._last[(netns, fp)]
        return dict(self.totals)
