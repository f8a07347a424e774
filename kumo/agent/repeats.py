"""Rate limit for repeated identical log reports.

A host whose kernel keeps failing the same way (its namespace is gone, a
device is missing) would otherwise log the same error on every pass,
thousands of times an hour. The first report of a message goes through;
the same message then goes through at most once per ``interval``, saying
how many identical reports were held back meanwhile. A different message
goes through at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Seen:
    logged_at: float
    held: int = 0


class RepeatLimiter:
    def __init__(
        self,
        interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        max_messages: int = 256,
    ) -> None:
        self.interval = interval
        self.clock = clock
        self.max_messages = max_messages
        """Messages remembered; past this, those not logged for an interval are forgotten."""
        self._seen: dict[str, _Seen] = {}

    def check(self, message: str) -> int | None:
        """None: hold this report back; otherwise log it, with the number of
        identical reports held back since it was last logged."""
        now = self.clock()
        seen = self._seen.get(message)
        if seen is not None and now - seen.logged_at < self.interval:
            seen.held += 1
            return None
        held = 0 if seen is None else seen.held
        self._seen[message] = _Seen(now)
        if len(self._seen) > self.max_messages:
            self._seen = {m: s for m, s in self._seen.items() if now - s.logged_at < self.interval}
        return held

    def reset(self) -> None:
        """Forget every message (the trouble is over: the next report is news)."""
        self._seen.clear()
