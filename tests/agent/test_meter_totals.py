"""The agent's metering totals: only what counters gained is added; a
rewritten table (new fingerprint) or a counter that started again counts
from zero; a namespace that could not be read keeps its last reading."""

from __future__ import annotations

from kumo.agent.metering import MeterTotals


def test_totals_never_go_down_and_count_each_byte_once() -> None:
    t = MeterTotals()
    assert t.update({("r1", "fa"): {"l": (100, 1)}, ("r2", "fb"): {"l": (50, 1)}}) == {
        "l": (150, 2)
    }
    assert t.update({("r1", "fa"): {"l": (160, 2)}, ("r2", "fb"): {"l": (50, 1)}})["l"] == (210, 3)
    # r1's table rewritten: its new counter starts at zero
    assert t.update({("r1", "fc"): {"l": (10, 1)}, ("r2", "fb"): {"l": (50, 1)}})["l"] == (220, 4)
    # r2 could not be read: nothing lost, nothing counted twice
    assert t.update({("r1", "fc"): {"l": (20, 2)}})["l"] == (230, 5)
    assert t.update({("r1", "fc"): {"l": (20, 2)}, ("r2", "fb"): {"l": (70, 2)}})["l"] == (250, 6)
    # a counter lower than before (started again under the same table)
    assert t.update({("r1", "fc"): {"l": (5, 1)}, ("r2", "fb"): {"l": (70, 2)}})["l"] == (255, 7)
    assert t.snapshot() == {"l": (255, 7)}
