"""Capped exponential backoff with jitter that stays finite after any number of failures.

``initial * multiplier ** (failures - 1)`` overflows a float after about a
thousand doublings (``OverflowError``), so the exponent is capped first: at
the number of steps that reaches the cap, past which the delay is the cap
anyway. Jitter takes a random fraction off the delay (never adds to it), so
hosts that failed together do not retry together and the delay never
exceeds the cap.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backoff:
    initial: float
    """Seconds after the first failure."""
    multiplier: float
    """Each further consecutive failure multiplies the delay by this (at least 1)."""
    cap: float
    """The delay never exceeds this many seconds."""
    jitter: float = 0.0
    """Up to this fraction of the delay is taken off at random (0 <= jitter < 1)."""
    _steps: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.initial) and self.initial > 0):
            raise ValueError(f"initial delay must be positive and finite, not {self.initial}")
        if not (math.isfinite(self.cap) and self.cap >= self.initial):
            raise ValueError(f"cap must be finite and at least the initial delay, not {self.cap}")
        if not (math.isfinite(self.multiplier) and self.multiplier >= 1):
            raise ValueError(f"multiplier must be at least 1, not {self.multiplier}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), not {self.jitter}")
        steps = 0
        if self.multiplier > 1 and self.cap > self.initial:
            steps = math.ceil(math.log(self.cap / self.initial, self.multiplier))
        object.__setattr__(self, "_steps", steps)

    def delay(self, failures: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after ``failures`` consecutive failures (0 for none);
        ``rand`` (uniform in [0, 1)) draws the jitter."""
        if failures <= 0:
            return 0.0
        exponent = min(failures - 1, self._steps)
        base = min(self.cap, self.initial * self.multiplier**exponent)
        if self.jitter:
            base *= 1.0 - self.jitter * rand()
        return base
