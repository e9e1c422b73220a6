"""`utc_day`: the day an invocation's usage counts on (its text is kept per day)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lambdad.cost.recorder import utc_day


@pytest.mark.parametrize(
    "epoch",
    [0.0, 86399.999, 86400.0, -0.5, -86400.0, 1796169599.9999, 1796169600.0, 1709164800.5],
)
def test_utc_day_is_the_dates_utc_day(epoch: float) -> None:
    assert utc_day(epoch) == datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d")


def test_utc_day_moves_on_at_midnight_and_back() -> None:
    midnight = datetime(2026, 12, 2, tzinfo=UTC).timestamp()
    assert [utc_day(midnight - 0.001), utc_day(midnight), utc_day(midnight - 1)] == [
        "2026-12-01",
        "2026-12-02",
        "2026-12-01",
    ]
