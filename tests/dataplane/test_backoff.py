"""Capped exponential backoff: finite after any number of failures, never above its cap."""

from __future__ import annotations

import random

import pytest

from kumo.dataplane.backoff import Backoff


def test_grows_then_stays_at_the_cap() -> None:
    b = Backoff(initial=0.2, multiplier=2.0, cap=30.0)
    assert [b.delay(n) for n in range(1, 5)] == [0.2, 0.4, 0.8, 1.6]
    assert b.delay(9) == 30.0  # 0.2 * 2**8 = 51.2, capped
    assert b.delay(0) == 0.0


@pytest.mark.parametrize("failures", [1_024, 1_025, 1_026, 10**6, 10**18])
def test_never_overflows(failures: int) -> None:
    # 0.2 * 2.0 ** 1_024 raises OverflowError; the capped exponent does not
    assert Backoff(0.2, 2.0, 30.0).delay(failures) == 30.0
    assert Backoff(1e-3, 1.5, 5.0, jitter=0.5).delay(failures) <= 5.0


def test_jitter_only_takes_off_and_stays_within_its_fraction() -> None:
    b = Backoff(0.2, 2.0, 30.0, jitter=0.25)
    rng = random.Random(7)
    delays = [b.delay(n, rng.random) for n in range(1, 2_000)]
    assert all(d <= 30.0 for d in delays)
    assert all(d >= 0.75 * 30.0 for d in delays[20:])
    assert len(set(delays[20:])) > 100  # spread, not one value


def test_multiplier_one_is_constant() -> None:
    assert {Backoff(2.0, 1.0, 2.0).delay(n) for n in (1, 50, 10**9)} == {2.0}


@pytest.mark.parametrize(
    ("initial", "multiplier", "cap", "jitter"),
    [
        (0.0, 2.0, 30.0, 0.0),
        (1.0, 0.5, 30.0, 0.0),
        (1.0, 2.0, float("inf"), 0.0),
        (5.0, 2.0, 1.0, 0.0),
        (1.0, 2.0, 30.0, 1.0),
    ],
)
def test_rejects_settings_that_cannot_be_capped(
    initial: float, multiplier: float, cap: float, jitter: float
) -> None:
    with pytest.raises(ValueError):
        Backoff(initial, multiplier, cap, jitter)
