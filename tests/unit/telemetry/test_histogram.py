"""The per-minute sketch: percentiles within the stated error, merging minutes."""

from __future__ import annotations

import math
import random

import pytest

from lambdad.telemetry.histogram import RELATIVE_ERROR, Aggregate


def exact(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


@pytest.mark.parametrize("p", [50.0, 90.0, 99.0, 99.9])
def test_percentiles_are_within_the_relative_error(p: float) -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(3, 1.5) for _ in range(20000)]
    aggregate = Aggregate()
    for value in values:
        aggregate.add(value)
    assert aggregate.percentile(p) == pytest.approx(exact(values, p), rel=RELATIVE_ERROR)
    assert RELATIVE_ERROR < 0.02


def test_minutes_merge_into_the_percentiles_of_all_their_values() -> None:
    rng = random.Random(3)
    minutes = [[rng.uniform(1, 1000) for _ in range(500)] for _ in range(5)]
    merged = Aggregate()
    for values in minutes:
        minute = Aggregate()
        for value in values:
            minute.add(value)
        merged.merge(minute)
    everything = [v for values in minutes for v in values]
    assert merged.count == 2500
    assert merged.total == pytest.approx(sum(everything))
    assert (merged.minimum, merged.maximum) == (min(everything), max(everything))
    assert merged.percentile(99) == pytest.approx(exact(everything, 99), rel=RELATIVE_ERROR)


def test_zeros_and_single_values() -> None:
    zeros = Aggregate()
    for _ in range(3):
        zeros.add(0.0)
    assert zeros.percentile(99) == 0.0
    one = Aggregate()
    one.add(123.4)
    assert one.percentile(50) == 123.4  # clamped to what was seen
    assert Aggregate().percentile(50) == 0.0
