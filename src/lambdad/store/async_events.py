"""Rows of the durable async-invoke queue.

An event is committed before InvokeAsync/Invoke(Event) answers 202, and
deleted only when it is done (succeeded or out of retries), so a crash of
the server loses no accepted event: the next server runs what it finds.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lambdad.store.database import map_db_errors
from lambdad.store.schema import async_events


@dataclass(frozen=True)
class AsyncEventRow:
    id: str
    function_name: str
    qualifier: str
    payload: bytes
    attempts: int
    enqueued_at: float
    next_attempt_at: float
    trace_id: str | None


class AsyncEventStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def enqueue(self, row: AsyncEventRow) -> None:
        with map_db_errors(), self.engine.begin() as conn:
            conn.execute(sa.insert(async_events).values(**row.__dict__))

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

    def next_due_at(self) -> float | None:
        query = sa.select(sa.func.min(async_events.c.next_attempt_at))
        with map_db_errors(), self.engine.connect() as conn:
            value = conn.execute(query).scalar_one_or_none()
        return None if value is None else float(value)

    def reschedule(self, event_id: str, attempts: int, next_attempt_at: float) -> None:
        with map_db_errors(), self.engine.begin() as conn:
            conn.execute(
                sa.update(async_events)
                .where(async_events.c.id == event_id)
                .values(attempts=attempts, next_attempt_at=next_attempt_at)
            )

    def delete(self, event_id: str) -> None:
        with map_db_errors(), self.engine.begin() as conn:
            conn.execute(sa.delete(async_events).where(async_events.c.id == event_id))
