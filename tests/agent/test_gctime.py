"""The garbage-collector meter behind the agent's slow-pass log."""

from __future__ import annotations

import gc

from kumo.agent.gctime import GcMeter


def test_collections_are_counted_and_timed_until_uninstalled() -> None:
    meter = GcMeter().install()
    try:
        gc.collect()
        gc.collect()
        assert meter.collections >= 2 and meter.total > 0
    finally:
        meter.uninstall()
    seen = meter.collections
    gc.collect()
    assert meter.collections == seen
    assert meter._callback not in gc.callbacks
