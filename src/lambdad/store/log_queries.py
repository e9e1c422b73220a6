"""Reads of the log store as CloudWatch Logs' API asks them: groups and streams with
their figures, one stream's events in either direction, and a group's events
that match a filter (narrowed by the full-text index, see store/log_index.py).
"""

from __future__ import annotations

import bisect
import itertools
import struct
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lambdad.store.database import map_db_errors
from lambdad.store.log_index import Narrowing, may_match, needle_of
from lambdad.store.logs import EVENTS_PER_CHUNK, LogEventRow, chunk_events
from lambdad.store.regional import RegionalStore
from lambdad.store.schema import log_chunks, log_groups, log_streams


@dataclass(frozen=True)
class GroupRow:
    name: str
    created_ms: int
    retention_days: int | None
    stored_bytes: int


@dataclass(frozen=True)
class StreamRow:
    name: str
    created_ms: int
    first_event_ms: int | None
    last_event_ms: int | None
    last_ingestion_ms: int | None


@dataclass(frozen=True)
class EventQuery:
    """Which of a group's events to read."""

    group: str
    streams: Sequence[str] | None = None
    stream_prefix: str | None = None
    start_ms: int | None = None
    """Events at or after."""
    end_ms: int | None = None
    """Events before."""


@dataclass(frozen=True)
class FilterPage:
    events: list[LogEventRow]
    resume_after: int | None
    """The id to go on after (None: the search is complete)."""


_EVENT_COLUMNS = (
    log_chunks.c.id,
    log_chunks.c.log_stream,
    log_chunks.c.timestamps,
    log_chunks.c.messages,
    log_chunks.c.ingested_ms,
)


class LogQueries(RegionalStore):
    # ---- groups and streams ----------------------------------------------------------------

    def groups(self) -> list[GroupRow]:
        """The region's groups by name, with the bytes their events take."""
        size = (
            sa.select(sa.func.coalesce(sa.func.sum(log_chunks.c.size), 0))
            .where(
                log_chunks.c.region == log_groups.c.region,
                log_chunks.c.log_group == log_groups.c.name,
            )
            .scalar_subquery()
        )
        query = (
            sa.select(log_groups.c.name, log_groups.c.created_ms, log_groups.c.retention_days, size)
            .where(self.here(log_groups))
            .order_by(log_groups.c.name)
        )
        with map_db_errors(), self.engine.connect() as conn:
            return [
                GroupRow(name, int(created), None if days is None else int(days), int(stored))
                for name, created, days, stored in conn.execute(query)
            ]

    def group_exists(self, group: str) -> bool:
        query = sa.select(sa.literal(1)).where(self.here(log_groups), log_groups.c.name == group)
        with map_db_errors(), self.engine.connect() as conn:
            return conn.execute(query).first() is not None

    def streams(self, group: str) -> list[StreamRow]:
        """The group's streams with their first and last event times (by name)."""
        figures = (
            sa.select(
                log_chunks.c.log_stream,
                sa.func.min(log_chunks.c.first_ms).label("first_ms"),
                sa.func.max(log_chunks.c.last_ms).label("last_ms"),
                sa.func.max(log_chunks.c.ingested_ms).label("ingested_ms"),
            )
            .where(log_chunks.c.region == self.region, log_chunks.c.log_group == group)
            .group_by(log_chunks.c.log_stream)
            .subquery()
        )
        query = (
            sa.select(
                log_streams.c.log_stream,
                log_streams.c.created_ms,
                figures.c.first_ms,
                figures.c.last_ms,
                sa.func.coalesce(figures.c.ingested_ms, figures.c.last_ms),
            )
            .select_from(
                log_streams.outerjoin(figures, figures.c.log_stream == log_streams.c.log_stream)
            )
            .where(self.here(log_streams), log_streams.c.log_group == group)
            .order_by(log_streams.c.log_stream)
        )
        with map_db_errors(), self.engine.connect() as conn:
            return [
                StreamRow(name, int(created), *(None if v is None else int(v) for v in rest))
                for name, created, *rest in conn.execute(query)
            ]

    def stream_exists(self, group: str, stream: str) -> bool:
        query = sa.select(sa.literal(1)).where(
            self.here(log_streams),
            log_streams.c.log_group == group,
            log_streams.c.log_stream == stream,
        )
        with map_db_errors(), self.engine.connect() as conn:
            return conn.execute(query).first() is not None

    # ---- events ----------------------------------------------------------------------------

    def _chunks(self, query: EventQuery, columns: Sequence[Any] = _EVENT_COLUMNS) -> sa.Select[Any]:
        select = sa.select(*columns).where(
            log_chunks.c.region == self.region, log_chunks.c.log_group == query.group
        )
        if query.streams is not None:
            select = select.where(log_chunks.c.log_stream.in_(list(query.streams)))
        if query.stream_prefix:
            select = select.where(
                log_chunks.c.log_stream.startswith(query.stream_prefix, autoescape=True)
            )
        if query.start_ms is not None:
            select = select.where(log_chunks.c.last_ms >= query.start_ms)
        if query.end_ms is not None:
            select = select.where(log_chunks.c.first_ms < query.end_ms)
        return select

    def stream_events(
        self,
        query: EventQuery,
        *,
        after_id: int | None,
        before_id: int | None,
        limit: int,
        max_bytes: int,
    ) -> list[LogEventRow]:
        """Up to `limit` events in time range, in order: the first ones after `after_id`
        when it is given, else the last ones before `before_id` (None: the end)."""
        select = self._chunks(query)
        forward = after_id is not None
        if forward:
            assert after_id is not None
            select = select.where(log_chunks.c.id >= after_id // EVENTS_PER_CHUNK)
            select = select.order_by(log_chunks.c.id)
        else:
            if before_id is not None:
                select = select.where(log_chunks.c.id <= before_id // EVENTS_PER_CHUNK)
            select = select.order_by(log_chunks.c.id.desc())

        def wanted(event: LogEventRow) -> bool:
            if forward and after_id is not None and event.id <= after_id:
                return False
            if not forward and before_id is not None and event.id >= before_id:
                return False
            return _in_range(query, event.timestamp_ms)

        events: list[LogEventRow] = []
        size = 0
        with map_db_errors(), self.engine.connect() as conn:
            result = conn.execute(select.execution_options(yield_per=4))
            for chunk_id, stream, times, messages, ingested in result:
                found = [
                    event
                    for event in chunk_events(
                        chunk_id, query.group, stream, times, messages, ingested
                    )
                    if wanted(event)
                ]
                for event in found if forward else reversed(found):
                    events.append(event)
                    size += len(event.message) + 26
                    if len(events) >= limit or size >= max_bytes:
                        result.close()
                        return events if forward else events[::-1]
        return events if forward else events[::-1]

    def filter_events(
        self,
        query: EventQuery,
        matches: Callable[[str], bool],
        narrowing: Narrowing | None,
        *,
        after_id: int,
        limit: int,
        max_bytes: int,
        max_scanned_bytes: int,
    ) -> FilterPage:
        """The group's matching events after `after_id`, in id order: only the chunks the
        index says may match are read, and `matches` decides each event. Stops at `limit`
        events, `max_bytes` of them, or `max_scanned_bytes` read (resume after that)."""
        sizes = self._chunks(query, (log_chunks.c.id, sa.func.length(log_chunks.c.messages)))
        sizes = sizes.where(log_chunks.c.id >= after_id // EVENTS_PER_CHUNK)
        if narrowing is not None:
            sizes = sizes.where(may_match(self.engine.dialect.name, narrowing))
        needle = None if narrowing is None else needle_of(narrowing)
        events: list[LogEventRow] = []
        size = scanned = 0
        with (
            map_db_errors(),
            self.engine.connect() as conn,
            closing(_read_in_batches(conn, sizes)) as chunks,  # its cursor closes with conn
        ):
            for chunk_id, stream, times, messages, ingested in chunks:
                scanned += len(messages)
                start = max(after_id - chunk_id * EVENTS_PER_CHUNK + 1, 0)
                found = _matching(query, matches, times, bytes(messages), start, needle)
                for index, stamp, line in found:
                    event_id = chunk_id * EVENTS_PER_CHUNK + index
                    event = LogEventRow(event_id, query.group, stream, stamp, line, ingested)
                    events.append(event)
                    size += len(event.message) + 26
                    if len(events) >= limit or size >= max_bytes:
                        return FilterPage(events, event.id)
                if scanned >= max_scanned_bytes:
                    last = (chunk_id + 1) * EVENTS_PER_CHUNK - 1
                    return FilterPage(events, last)
        return FilterPage(events, None)


BATCH_BYTES = 4 << 20
"""The most bytes of messages a search fetches in one query (as 4 chunks of the most)."""
BATCH_CHUNKS = 256


def _read_in_batches(
    conn: Connection, sizes: sa.Select[Any]
) -> Generator[Sequence[Any], None, None]:
    """The chunks `sizes` (id, bytes of messages) selects, read in id order in batches of
    up to BATCH_BYTES: one query per batch, rather than a PostgreSQL cursor's round trip
    per few chunks (each a wait for the server on a busy machine), in bounded memory."""
    batch: list[int] = []
    bytes_ = 0
    ids = conn.execute(sizes.order_by(log_chunks.c.id).execution_options(yield_per=1024))
    try:
        for chunk_id, length in ids:
            if batch and (bytes_ + (length or 0) > BATCH_BYTES or len(batch) >= BATCH_CHUNKS):
                yield from _chunks_by_id(conn, batch)
                batch, bytes_ = [], 0
            batch.append(chunk_id)
            bytes_ += length or 0
        if batch:
            yield from _chunks_by_id(conn, batch)
    finally:
        ids.close()


def _chunks_by_id(conn: Connection, ids: list[int]) -> Sequence[Any]:
    """The chunks `ids` in id order (those deleted since they were listed are left out)."""
    select = sa.select(*_EVENT_COLUMNS).where(log_chunks.c.id.in_(ids)).order_by(log_chunks.c.id)
    return conn.execute(select.execution_options(binary_results=True)).all()


def _matching(
    query: EventQuery,
    matches: Callable[[str], bool],
    times: bytes,
    messages: bytes,
    start: int,
    needle: bytes | None,
) -> Iterator[tuple[int, int, str]]:
    """(place, timestamp, message) of a chunk's events from `start` on that are in the
    time range and match: the hot loop of a search, so no object per event until one
    matches, and with a `needle` (bytes every match holds) only its lines are looked at."""
    stamp_at = _stamps(times)
    for index, line in _lines(messages, needle):
        if index >= start:
            stamp = stamp_at(index)
            if _in_range(query, stamp) and matches(line):
                yield index, stamp, line


def _lines(messages: bytes, needle: bytes | None) -> Iterator[tuple[int, str]]:
    """(place, message) of every event, or of those holding `needle` (found at C speed)."""
    if needle is None:
        yield from enumerate(messages.decode("utf-8", "replace").split("\n"))
        return
    index = counted = 0  # index: the newlines in messages[:counted]
    at = messages.find(needle)
    while at >= 0:
        index += messages.count(b"\n", counted, at)
        counted = at
        begin = messages.rfind(b"\n", 0, at) + 1
        end = messages.find(b"\n", at)
        end = len(messages) if end < 0 else end
        yield index, messages[begin:end].decode("utf-8", "replace")
        at = messages.find(needle, end)


def _stamps(times: bytes) -> Callable[[int], int]:
    """The timestamp of a chunk's event by its place (its runs of equal timestamps)."""
    values = struct.unpack(f"<{len(times) // 8}q", times)
    stamps, ends = values[::2], list(itertools.accumulate(values[1::2]))
    return lambda index: stamps[bisect.bisect_right(ends, index)]


def _in_range(query: EventQuery, timestamp_ms: int) -> bool:
    return (query.start_ms is None or timestamp_ms >= query.start_ms) and (
        query.end_ms is None or timestamp_ms < query.end_ms
    )
