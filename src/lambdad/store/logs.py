"""The log store: log groups (with their retention), streams, and events kept
compactly as chunks.

A chunk is one row holding a run of consecutive events of one stream: their
messages joined by "\\n" (no message holds a newline) and their timestamps as
(timestamp, count) runs, so a flood of short lines costs no per-line row,
index entry or repeated group and stream name. An event's id is its chunk's id
times EVENTS_PER_CHUNK plus its place in the chunk: ids grow in append order,
and a reader continues after the last id it saw.

The store's size is the bytes of its chunks' messages and timestamps; the
oldest chunks go first when it must shrink (`evict_oldest`), and a group's
retention (`put_retention_policy`, CloudWatch's days) is applied by
`delete_expired`.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from lambdad.store.database import map_db_errors
from lambdad.store.log_index import add_chunks, index_size
from lambdad.store.regional import DEFAULT_REGION, RegionalStore
from lambdad.store.schema import log_chunks, log_groups, log_streams

EVENTS_PER_CHUNK = 1 << 16
READ_MAX_BYTES = 1 << 20
"""A read returns at most about this many bytes of messages, as GetLogEvents does."""
DAY_MS = 86_400_000


@dataclass(frozen=True)
class LogEventRow:
    id: int
    log_group: str
    log_stream: str
    timestamp_ms: int
    message: str
    ingestion_ms: int | None = None
    """When its chunk was stored (None for chunks stored before lambdad kept it)."""


def chunk_events(
    chunk_id: int,
    group: str,
    stream: str,
    times: bytes,
    messages: bytes,
    ingested_ms: int | None = None,
    start: int = 0,
) -> Iterator[LogEventRow]:
    """A chunk's events from its `start`-th on, in order."""
    pairs = zip(unpack_timestamps(times), bytes(messages).split(b"\n"), strict=True)
    for index, (timestamp, message) in enumerate(pairs):
        if index >= start:
            yield LogEventRow(
                chunk_id * EVENTS_PER_CHUNK + index,
                group,
                stream,
                timestamp,
                message.decode("utf-8", "replace"),
                ingested_ms,
            )


@dataclass(frozen=True)
class NewChunk:
    """Events to append to one stream: `runs` of (timestamp_ms, count) in order, and
    their `messages` joined by b"\\n" (as many as the runs count, none empty)."""

    log_group: str
    log_stream: str
    runs: Sequence[tuple[int, int]]
    messages: bytes
    region: str = DEFAULT_REGION
    """The log group's region."""

    @property
    def count(self) -> int:
        return sum(count for _, count in self.runs)

    @property
    def size(self) -> int:
        """The bytes it takes in the store (messages and packed timestamps)."""
        return len(self.messages) + 16 * len(self.runs)


@dataclass
class Removed:
    """What a deletion took away (for the log line that says so)."""

    events: int = 0
    bytes: int = 0
    first_ms: int | None = None
    last_ms: int | None = None
    groups: set[str] = field(default_factory=set)

    def add(self, group: str, events: int, size: int, first_ms: int, last_ms: int) -> None:
        self.events += events
        self.bytes += size
        self.first_ms = first_ms if self.first_ms is None else min(self.first_ms, first_ms)
        self.last_ms = last_ms if self.last_ms is None else max(self.last_ms, last_ms)
        self.groups.add(group)


def pack_runs(runs: Sequence[tuple[int, int]]) -> bytes:
    flat = [value for run in runs for value in run]
    return struct.pack(f"<{len(flat)}q", *flat)


def unpack_timestamps(packed: bytes) -> Iterator[int]:
    values = struct.unpack(f"<{len(packed) // 8}q", packed)
    for timestamp, count in zip(values[::2], values[1::2], strict=True):
        for _ in range(count):
            yield timestamp


_REMOVED_COLUMNS = (
    log_chunks.c.log_group,
    log_chunks.c.event_count,
    log_chunks.c.size,
    log_chunks.c.first_ms,
    log_chunks.c.last_ms,
)


KNOWN_FOR_S = 10.0
"""How long the writer trusts that a stream's rows exist: another server process
(`--workers`) may delete its group (DeleteLogGroup) meanwhile; its next events
make the rows again at most this much later."""
APPEND_LOCK = 0x6C6F6773  # "logs"
"""PostgreSQL advisory lock that orders appends of several server processes."""


class _KnownRows:
    """(region, group, stream) known to have their rows, forgotten past 4,096 and
    every KNOWN_FOR_S."""

    def __init__(self) -> None:
        self.rows: set[tuple[str, str, str]] = set()
        self.since = time.monotonic()

    def __contains__(self, key: tuple[str, str, str]) -> bool:
        if time.monotonic() - self.since > KNOWN_FOR_S:
            self.clear()
        return key in self.rows

    def update(self, pairs: Iterable[tuple[str, str, str]]) -> None:
        if len(self.rows) > 4096:
            self.clear()
        self.rows.update(pairs)

    def clear(self) -> None:
        self.rows.clear()
        self.since = time.monotonic()


def _insert_missing(conn: Connection, table: sa.Table, values: dict[str, object]) -> bool:
    """Insert the row unless its key exists (False): another server process may make
    the same group's row at the same moment, where a select first lets both insert."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(table).values(**values).on_conflict_do_nothing()
    # RETURNING says whether it inserted (PostgreSQL's driver reports no rowcount here).
    key = next(iter(table.primary_key.columns))
    return conn.execute(insert.returning(key)).first() is not None


class LogStore(RegionalStore):
    """Log groups of one region (`in_region` for another's); sizes, eviction and
    retention sweeps are the server's, across regions."""

    def __init__(self, engine: Engine, region: str = DEFAULT_REGION) -> None:
        super().__init__(engine, region)
        self._known = _KnownRows()
        """Shared by every region's store."""

    def _group(self, table: sa.Table, column: str, group: str) -> sa.ColumnElement[bool]:
        return sa.and_(self.here(table), table.c[column] == group)

    # ---- groups and streams ----------------------------------------------------------------

    def create_stream(self, group: str, stream: str, created_ms: int) -> None:
        with map_db_errors(), self.engine.begin() as conn:
            self._ensure(conn, self.region, group, stream, created_ms)
        self._remember([(self.region, group, stream)])

    def _ensure(
        self, conn: Connection, region: str, group: str, stream: str, created_ms: int
    ) -> None:
        """The group's and the stream's rows, made if missing (`_remember` after commit)."""
        if (region, group, stream) in self._known:
            return
        _insert_missing(
            conn, log_groups, {"region": region, "name": group, "created_ms": created_ms}
        )
        _insert_missing(
            conn,
            log_streams,
            {"region": region, "log_group": group, "log_stream": stream, "created_ms": created_ms},
        )

    def _remember(self, pairs: Iterable[tuple[str, str, str]]) -> None:
        self._known.update(pairs)

    def create_group(self, group: str, now_ms: int) -> bool:
        """Make an empty group; False when it exists."""
        row = {"region": self.region, "name": group, "created_ms": now_ms}
        with map_db_errors(), self.engine.begin() as conn:
            return _insert_missing(conn, log_groups, row)

    def delete_group(self, group: str) -> bool:
        """Delete a group, its streams and events (and their words in the index); False
        when there is no such group. A function's next output makes it again."""
        with map_db_errors(), self.engine.begin() as conn:
            found = conn.execute(
                sa.delete(log_groups).where(self._group(log_groups, "name", group))
            )
            conn.execute(sa.delete(log_streams).where(self._group(log_streams, "log_group", group)))
            conn.execute(sa.delete(log_chunks).where(self._group(log_chunks, "log_group", group)))
        self._known.clear()  # shared by every region's store: their rows must be made again
        return found.rowcount > 0

    def streams(self, group: str) -> list[str]:
        query = (
            sa.select(log_streams.c.log_stream)
            .where(self._group(log_streams, "log_group", group))
            .order_by(log_streams.c.created_ms)
        )
        with map_db_errors(), self.engine.connect() as conn:
            return [r[0] for r in conn.execute(query)]

    # ---- retention -------------------------------------------------------------------------

    def put_retention_policy(self, group: str, days: int | None, now_ms: int) -> None:
        """Keep the group's events `days` days (None: never expire), creating the group
        if need be. Callers check `days` against CloudWatch's allowed values."""
        row = {"region": self.region, "name": group, "created_ms": now_ms}
        with map_db_errors(), self.engine.begin() as conn:
            _insert_missing(conn, log_groups, row)
            where = self._group(log_groups, "name", group)
            conn.execute(sa.update(log_groups).where(where).values(retention_days=days))

    def retention_days(self, group: str) -> int | None:
        query = sa.select(log_groups.c.retention_days).where(self._group(log_groups, "name", group))
        with map_db_errors(), self.engine.connect() as conn:
            value = conn.execute(query).scalar_one_or_none()
        return None if value is None else int(value)

    def delete_expired(self, now_ms: int) -> Removed:
        """Delete the chunks of every group (of every region) with a retention whose
        newest event is older."""
        removed = Removed()
        with map_db_errors(), self.engine.begin() as conn:
            groups = conn.execute(
                sa.select(
                    log_groups.c.region, log_groups.c.name, log_groups.c.retention_days
                ).where(log_groups.c.retention_days.is_not(None))
            ).all()
            for region, group, days in groups:
                expired = (
                    (log_chunks.c.region == region)
                    & (log_chunks.c.log_group == group)
                    & (log_chunks.c.last_ms < now_ms - int(days) * DAY_MS)
                )
                events, size, first_ms, last_ms = conn.execute(
                    sa.select(
                        sa.func.coalesce(sa.func.sum(log_chunks.c.event_count), 0),
                        sa.func.coalesce(sa.func.sum(log_chunks.c.size), 0),
                        sa.func.min(log_chunks.c.first_ms),
                        sa.func.max(log_chunks.c.last_ms),
                    ).where(expired)
                ).one()
                if events:
                    removed.add(group, int(events), int(size), int(first_ms), int(last_ms))
                    conn.execute(sa.delete(log_chunks).where(expired))
        return removed

    # ---- events ----------------------------------------------------------------------------

    def append(self, chunks: Sequence[NewChunk], ingested_ms: int | None = None) -> int:
        """Store the chunks in one transaction (and in the search index); returns the
        bytes they take."""
        ingested_ms = int(time.time() * 1000) if ingested_ms is None else ingested_ms
        rows = []
        for chunk in chunks:
            times = pack_runs(chunk.runs)
            rows.append(
                {
                    "region": chunk.region,
                    "log_group": chunk.log_group,
                    "log_stream": chunk.log_stream,
                    "first_ms": chunk.runs[0][0],
                    "last_ms": chunk.runs[-1][0],
                    "event_count": chunk.count,
                    "size": chunk.size,
                    "timestamps": times,
                    "messages": chunk.messages,
                    "ingested_ms": ingested_ms,
                }
            )
        if not rows:
            return 0
        with map_db_errors(), self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Chunk ids then commit in order across server processes, so a reader
                # that continues after an id never skips one committed later. (SQLite's
                # BEGIN IMMEDIATE already orders every writer.)
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(APPEND_LOCK)))
            for chunk in chunks:
                first_ms = chunk.runs[0][0]
                self._ensure(conn, chunk.region, chunk.log_group, chunk.log_stream, first_ms)
            if conn.dialect.name == "sqlite":
                conn.execute(sa.insert(log_chunks), rows)  # its triggers index them
            else:
                insert = sa.insert(log_chunks).returning(
                    log_chunks.c.id, sort_by_parameter_order=True
                )
                ids = conn.execute(insert, rows).scalars().all()
                add_chunks(conn, [(i, c.messages) for i, c in zip(ids, chunks, strict=True)])
        self._remember((chunk.region, chunk.log_group, chunk.log_stream) for chunk in chunks)
        return sum(chunk.size for chunk in chunks)

    def events(
        self,
        group: str,
        after_id: int = 0,
        limit: int = 1000,
        stream: str | None = None,
        max_bytes: int = READ_MAX_BYTES,
    ) -> list[LogEventRow]:
        """Up to `limit` events of `group` (or of one of its streams) with ids above
        `after_id`, and no more once their messages reach `max_bytes` (at least one)."""
        after_chunk, after_index = divmod(max(after_id, 0), EVENTS_PER_CHUNK)
        query = (
            sa.select(
                log_chunks.c.id,
                log_chunks.c.log_stream,
                log_chunks.c.timestamps,
                log_chunks.c.messages,
            )
            .where(self._group(log_chunks, "log_group", group), log_chunks.c.id >= after_chunk)
            .order_by(log_chunks.c.id)
        )
        if stream is not None:
            query = query.where(log_chunks.c.log_stream == stream)
        events: list[LogEventRow] = []
        size = 0
        with map_db_errors(), self.engine.connect() as conn:
            result = conn.execute(query.execution_options(yield_per=4))
            for chunk_id, chunk_stream, times, messages in result:
                start = after_index + 1 if chunk_id == after_chunk else 0
                for event in chunk_events(
                    chunk_id, group, chunk_stream, times, messages, None, start
                ):
                    events.append(event)
                    size += len(event.message)
                    if len(events) >= limit or size >= max_bytes:
                        result.close()
                        return events
        return events

    def last_id(self, group: str) -> int:
        """The id of the group's newest event (0 when it has none)."""
        return self.tail_start(group, 0)

    def tail_start(self, group: str, count: int) -> int:
        """The id after which the group's last `count` events begin (0: from the first)."""
        query = (
            sa.select(log_chunks.c.id, log_chunks.c.event_count)
            .where(self._group(log_chunks, "log_group", group))
            .order_by(log_chunks.c.id.desc())
        )
        with map_db_errors(), self.engine.connect() as conn:
            result = conn.execute(query.execution_options(yield_per=256))
            for chunk_id, events in result:
                if events > count:  # the wanted events begin inside this chunk
                    result.close()
                    return int(chunk_id) * EVENTS_PER_CHUNK + int(events) - count - 1
                count -= events
        return 0

    # ---- size ------------------------------------------------------------------------------

    def total_bytes(self) -> int:
        """Of every region's groups (the cap is the server's)."""
        query = sa.select(sa.func.coalesce(sa.func.sum(log_chunks.c.size), 0))
        with map_db_errors(), self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def index_bytes(self) -> int:
        """What the full-text index takes (of every region's groups)."""
        with map_db_errors(), self.engine.connect() as conn:
            return index_size(conn)

    def evict_oldest(self, at_least: int) -> Removed:
        """Delete the oldest chunks, of any group, until at least `at_least` bytes are gone."""
        removed = Removed()
        query = sa.select(log_chunks.c.id, *_REMOVED_COLUMNS).order_by(log_chunks.c.id)
        with map_db_errors(), self.engine.begin() as conn:
            last_id = None
            result = conn.execute(query.execution_options(yield_per=256))
            for chunk_id, *row in result:
                last_id = chunk_id
                removed.add(*row)
                if removed.bytes >= at_least:
                    break
            result.close()
            if last_id is not None:
                conn.execute(sa.delete(log_chunks).where(log_chunks.c.id <= last_id))
        return removed
