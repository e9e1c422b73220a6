"""One period's statistics of a metric: count, sum, min, max and a mergeable sketch.

The sketch is a sparse histogram over fixed log-scale buckets: bucket `i` holds
the values in (GROWTH**(i-1), GROWTH**i]. Two sketches merge by adding their
counts, so a percentile over any number of minutes (or series) is computed from
their merged buckets. A percentile is reported as its bucket's geometric middle,
clamped to the observed min and max: within RELATIVE_ERROR (2%) of the exact
value for positive values. Zero and negative values share one bucket (reported
as the observed minimum); Lambda's distributions (durations, ages, counts) are
never negative.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

GROWTH = 1.04
RELATIVE_ERROR = math.sqrt(GROWTH) - 1  # 0.0198
_LOG_GROWTH = math.log(GROWTH)
ZERO_BUCKET = -(10**6)
"""Values <= 0 (an index no positive float reaches)."""


def bucket_of(value: float) -> int:
    if value <= 0:
        return ZERO_BUCKET
    return math.ceil(math.log(value) / _LOG_GROWTH)


@dataclass
class Aggregate:
    """What a metric saw in one period (CloudWatch's statistic set plus the sketch)."""

    count: float = 0.0
    total: float = 0.0
    minimum: float = math.inf
    maximum: float = -math.inf
    buckets: dict[int, int] = field(default_factory=dict)

    def add(self, value: float, bucket: int | None = None) -> None:
        """Count `value` (its `bucket_of`, when the caller has it already)."""
        self.count += 1
        self.total += value
        if value < self.minimum:
            self.minimum = value
        if value > self.maximum:
            self.maximum = value
        key = bucket_of(value) if bucket is None else bucket
        self.buckets[key] = self.buckets.get(key, 0) + 1

    def merge(self, other: Aggregate) -> None:
        self.count += other.count
        self.total += other.total
        self.minimum = min(self.minimum, other.minimum)
        self.maximum = max(self.maximum, other.maximum)
        for key, n in other.buckets.items():
            self.buckets[key] = self.buckets.get(key, 0) + n

    def copy(self) -> Aggregate:
        return Aggregate(self.count, self.total, self.minimum, self.maximum, dict(self.buckets))

    @property
    def average(self) -> float:
        return self.total / self.count if self.count else 0.0

    def percentile(self, p: float) -> float:
        """The `p`th percentile (0 < p <= 100) within RELATIVE_ERROR."""
        if not self.count:
            return 0.0
        rank = max(1, math.ceil(p / 100 * sum(self.buckets.values())))
        seen = 0
        for key in sorted(self.buckets):
            seen += self.buckets[key]
            if seen >= rank:
                if key == ZERO_BUCKET:
                    return self.minimum
                middle: float = GROWTH ** (key - 0.5)
                return min(max(middle, self.minimum), self.maximum)
        return self.maximum

    @classmethod
    def from_row(
        cls,
        sample_count: float,
        total: float,
        minimum: float,
        maximum: float,
        buckets: dict[str, int],
    ) -> Aggregate:
        return cls(
            sample_count, total, minimum, maximum, {int(k): int(n) for k, n in buckets.items()}
        )
