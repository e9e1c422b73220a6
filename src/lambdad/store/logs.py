"""Rows of the log store: streams and their events, in append order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lambdad.store.database import map_db_errors
from lambdad.store.schema import log_events, log_streams


@dataclass(frozen=True)
class LogEventRow:
    id: int
    log_group: str
    log_stream: str
    timestamp_ms: int
    message: str


class LogStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create_stream(self, group: str, stream: str, created_ms: int) -> None:
        with map_db_errors(), self.engine.begin() as conn:
            exists = conn.execute(
                sa.select(log_streams.c.log_stream).where(
                    log_streams.c.log_group == group, log_streams.c.log_stream == stream
                )
            ).first()
            if exists is None:
                conn.execute(
                    sa.insert(log_streams).values(
                        log_group=group, log_stream=stream, created_ms=created_ms
                    )
                )

    def append(self, events: Sequence[tuple[str, str, int, str]]) -> None:
        """Insert (group, stream, timestamp_ms, message) events in one transaction."""
        if not events:
            return
        rows = [
            {"log_group": group, "log_stream": stream, "timestamp_ms": ts, "message": msg}
            for group, stream, ts, msg in events
        ]
        with map_db_errors(), self.engine.begin() as conn:
            conn.execute(sa.insert(log_events), rows)

    def events(
        self, group: str, after_id: int = 0, limit: int = 1000, stream: str | None = None
    ) -> list[LogEventRow]:
        query = (
            sa.select(log_events)
            .where(log_events.c.log_group == group, log_events.c.id > after_id)
            .order_by(log_events.c.id)
            .limit(limit)
        )
        if stream is not None:
            query = query.where(log_events.c.log_stream == stream)
        with map_db_errors(), self.engine.connect() as conn:
            return [LogEventRow(**r._mapping) for r in conn.execute(query)]

    def last_id(self, group: str) -> int:
        query = sa.select(sa.func.coalesce(sa.func.max(log_events.c.id), 0)).where(
            log_events.c.log_group == group
        )
        with map_db_errors(), self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def streams(self, group: str) -> list[str]:
        query = (
            sa.select(log_streams.c.log_stream)
            .where(log_streams.c.log_group == group)
            .order_by(log_streams.c.created_ms)
        )
        with map_db_errors(), self.engine.connect() as conn:
            return [r[0] for r in conn.execute(query)]
