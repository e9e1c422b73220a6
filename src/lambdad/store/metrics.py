"""Rows of metrics: per-minute aggregates of one series (region, metric, dimensions).

Rows are appended in batches (the recorder's flush); several rows of one minute
and series are partial aggregates that the reader merges. Rows older than the
retention bound go with each batch. Every method is blocking: callers run it
through `run_sync`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lambdad.store.database import map_db_errors
from lambdad.store.schema import metric_points


@dataclass(frozen=True)
class MetricRow:
    region: str
    metric_name: str
    dimensions: str
    minute: int
    sample_count: float
    total: float
    minimum: float
    maximum: float
    buckets: dict[str, int]

    def values(self) -> dict[str, Any]:
        return dict(self.__dict__)


class MetricStore:
    """The server's metric rows, of every region (each query names its region)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, rows: list[MetricRow], expire_before: float) -> None:
        """Append a batch, and drop rows older than `expire_before` (epoch seconds)."""
        with map_db_errors(), self.engine.begin() as conn:
            if rows:
                conn.execute(sa.insert(metric_points), [row.values() for row in rows])
            conn.execute(sa.delete(metric_points).where(metric_points.c.minute < expire_before))

    def read(
        self, region: str, metric_name: str, dimensions: str, start: float, end: float
    ) -> list[MetricRow]:
        """One series' rows with a minute in [start, end)."""
        c = metric_points.c
        query = sa.select(metric_points).where(
            c.region == region,
            c.metric_name == metric_name,
            c.dimensions == dimensions,
            c.minute >= start,
            c.minute < end,
        )
        with map_db_errors(), self.engine.connect() as conn:
            return [
                MetricRow(**{k: v for k, v in row._mapping.items() if k != "id"})
                for row in conn.execute(query)
            ]

    def series(self, region: str, since: float) -> list[tuple[str, str]]:
        """Every (metric, dimensions) of the region with a row since `since`."""
        c = metric_points.c
        query = (
            sa.select(c.metric_name, c.dimensions)
            .where(c.region == region, c.minute >= since)
            .distinct()
        )
        with map_db_errors(), self.engine.connect() as conn:
            return [(str(r[0]), str(r[1])) for r in conn.execute(query)]
