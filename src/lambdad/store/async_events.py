"""Rows of the durable async-invoke queue.

An event is committed before InvokeAsync/Invoke(Event) answers 202, and
deleted only when it is done (succeeded, or out of retries or age), so a
crash of the server loses no accepted event: the next server runs what it
finds. Handing an event to its destination is one transaction: the
destination's event is written in the same commit that deletes this one.
The queue is the server's: its events carry the region of their function.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lambdad.store.database import map_db_errors, reading
from lambdad.store.schema import async_events


@dataclass(frozen=True)
class AsyncEventRow:
    id: str
    region: str
    """The region of the function (the one the event was accepted in)."""
    function_name: str
    qualifier: str
    payload: bytes
    attempts: int
    """Attempts that ran the function (Lambda's approximateInvokeCount)."""
    enqueued_at: float
    next_attempt_at: float
    trace_id: str | None
    throttles: int = 0
    """Tries refused by concurrency limits or the platform: they do not use up attempts."""
    last_response: dict[str, Any] | None = field(default=None)
    """The last attempt's responseContext and responsePayload (for a destination record)."""


class AsyncEventStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def enqueue(self, row: AsyncEventRow) -> bool:
        """Queue the event; False when an event of its id is queued already (the same
        event handed over again, e.g. a schedule's tick delivered again after a crash)."""
        with map_db_errors():
            try:
                with self.engine.begin() as conn:
                    conn.execute(sa.insert(async_events).values(**row.__dict__))
            except sa.exc.IntegrityError:
                if not self._exists(row.id):
                    raise
                return False
        return True

    def _exists(self, event_id: str) -> bool:
        query = sa.select(async_events.c.id).where(async_events.c.id == event_id)
        with self.engine.connect() as conn:
            return conn.execute(query).first() is not None

    def due(self, now: float, limit: int, exclude: set[str]) -> list[AsyncEventRow]:
        query = (
            sa.select(async_events)
            .where(async_events.c.next_attempt_at <= now)
            .order_by(async_events.c.next_attempt_at)
            .limit(limit + len(exclude))
        )
        with map_db_errors(), self.engine.connect() as conn:
            rows = [AsyncEventRow(**r._mapping) for r in conn.execute(query)]
        return [r for r in rows if r.id not in exclude][:limit]

    def depth(self) -> dict[tuple[str, str], int]:
        """Queued events (due or waiting for a retry) by (region, function name)."""
        c = async_events.c
        query = sa.select(c.region, c.function_name, sa.func.count()).group_by(
            c.region, c.function_name
        )
        with map_db_errors(), self.engine.connect() as conn:
            return {(str(r[0]), str(r[1])): int(r[2]) for r in conn.execute(query)}

    def next_due_at(self) -> float | None:
        query = sa.select(sa.func.min(async_events.c.next_attempt_at))
        with map_db_errors(), reading(self.engine) as conn:
            value = conn.execute(query).scalar_one_or_none()
        return None if value is None else float(value)

    def reschedule(self, row: AsyncEventRow) -> None:
        """Store the event's new attempt counts, next time and last response."""
        with map_db_errors(), self.engine.begin() as conn:
            conn.execute(
                sa.update(async_events)
                .where(async_events.c.id == row.id)
                .values(
                    attempts=row.attempts,
                    throttles=row.throttles,
                    next_attempt_at=row.next_attempt_at,
                    last_response=row.last_response,
                )
            )

    def complete(self, event_id: str, follow_up: AsyncEventRow | None = None) -> None:
        """Delete a finished event, enqueueing `follow_up` (its destination) in the same commit."""
        with map_db_errors(), self.engine.begin() as conn:
            conn.execute(sa.delete(async_events).where(async_events.c.id == event_id))
            if follow_up is not None:
                conn.execute(sa.insert(async_events).values(**follow_up.__dict__))
