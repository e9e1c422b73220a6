"""An async event named by its caller is queued once, however often it is handed over
(a schedule's tick delivered again after a crash)."""

from __future__ import annotations

import sqlalchemy as sa

from lambdad.store import AsyncEventRow, AsyncEventStore


def row(event_id: str) -> AsyncEventRow:
    return AsyncEventRow(
        id=event_id,
        region="us-east-1",
        function_name="fn",
        qualifier="$LATEST",
        payload=b"{}",
        attempts=0,
        enqueued_at=1.0,
        next_attempt_at=1.0,
        trace_id=None,
    )


def test_the_same_event_twice_is_queued_once(engine: sa.Engine) -> None:
    events = AsyncEventStore(engine)
    assert events.enqueue(row("tick-1")) is True
    assert events.enqueue(row("tick-1")) is False
    assert events.enqueue(row("tick-2")) is True
    assert [e.id for e in events.due(2.0, 10, set())] == ["tick-1", "tick-2"]
