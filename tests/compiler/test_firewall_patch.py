"""The firewall's remembered state against answers worked out from nothing."""

from __future__ import annotations

import random

import pytest

from kumo.compiler.firewall_patch import FilterState, index_all, port_indices, reindex
from kumo.compiler.model import PortView


def _state(ids: set[str]) -> FilterState:
    return FilterState("h", local={i: PortView.__new__(PortView) for i in ids})


@pytest.mark.parametrize("slots", [40, 200, 0xFFFF])
def test_patched_indexes_are_the_indexes_from_nothing(slots: int) -> None:
    """Ports join and leave one or a few at a time (with 40 slots for up
    to 36 ports the indexes wrap around past the last slot); after each
    change the patched indexes equal ``port_indices`` of the ports there,
    and the ports reported moved are exactly those whose index changed."""
    rng = random.Random(slots)
    pool = [f"{i:08x}-0000-4000-8000-000000000000" for i in range(60)]
    present = set(rng.sample(pool, 20))
    state = _state(present)
    index_all(state, present, slots)
    for _ in range(300):
        before = dict(state.indices)
        joined = set(rng.sample(sorted(set(pool) - present), rng.randint(0, 2)))
        if len(present | joined) > min(slots - 4, 36):
            joined = set()
        left = set(rng.sample(sorted(present), rng.randint(0, min(2, len(present)))))
        present = (present | joined) - left
        state.local = {i: PortView.__new__(PortView) for i in present}
        moved = reindex(state, joined, left, slots)
        assert state.indices == port_indices(sorted(present), slots)
        assert moved == {p for p in present if before.get(p) != state.indices[p]}
