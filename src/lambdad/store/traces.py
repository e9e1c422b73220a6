"""Rows of traces: one X-Ray segment document per traced invocation, bounded.

The newest `max_segments` are kept (older ones go with each batch written),
enough for the console and `aws xray` to show recent traces. Every method is
blocking: callers run it through `run_sync`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lambdad.store.database import map_db_errors
from lambdad.store.schema import trace_segments


@dataclass(frozen=True)
class SegmentRow:
    id: str
    trace_id: str
    region: str
    function_name: str
    start_time: float
    end_time: float
    error: bool
    fault: bool
    document: dict[str, Any]


def _row(mapping: Any) -> SegmentRow:
    return SegmentRow(**{k: v for k, v in mapping.items() if k != "seq"})


class TraceStore:
    """The server's trace segments, of every region (each query names its region)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, rows: list[SegmentRow], max_segments: int) -> None:
        """Write a batch; keep the newest `max_segments` segments."""
        c = trace_segments.c
        with map_db_errors(), self.engine.begin() as conn:
            known = set(conn.scalars(sa.select(c.id).where(c.id.in_([r.id for r in rows]))))
            fresh = [r.__dict__ for r in rows if r.id not in known]
            if fresh:
                conn.execute(sa.insert(trace_segments), fresh)
            newest = conn.scalar(
                sa.select(c.seq).order_by(c.seq.desc()).offset(max_segments).limit(1)
            )
            if newest is not None:
                conn.execute(sa.delete(trace_segments).where(c.seq <= newest))

    def in_range(self, region: str, start: float, end: float, limit: int) -> list[SegmentRow]:
        """Segments of traces that began in [start, end], oldest first."""
        c = trace_segments.c
        query = (
            sa.select(trace_segments)
            .where(c.region == region, c.start_time >= start, c.start_time <= end)
            .order_by(c.start_time)
            .limit(limit)
        )
        with map_db_errors(), self.engine.connect() as conn:
            return [_row(r._mapping) for r in conn.execute(query)]

    def of_traces(self, region: str, trace_ids: list[str]) -> list[SegmentRow]:
        c = trace_segments.c
        query = (
            sa.select(trace_segments)
            .where(c.region == region, c.trace_id.in_(trace_ids))
            .order_by(c.start_time)
        )
        with map_db_errors(), self.engine.connect() as conn:
            return [_row(r._mapping) for r in conn.execute(query)]
