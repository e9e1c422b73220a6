"""Function logs as Lambda writes them: one stream per execution environment,
START / the function's output / END / REPORT per invocation.

Output flows with bounded memory, hop by hop: init relays the function's pipes
in 64 KB pieces and blocks on its channel when the host stops reading; the
environment hands each piece to its `StreamLog` and reads nothing more until
it is taken; a `StreamLog` cuts the piece into events and puts them on one
`BoundedQueue` (a few MB), waiting while it is full; and one writer task
(`FunctionLogs.run`) takes batches off it and stores them as chunks. A store
that falls behind so slows the function's write() down; nothing piles up.

The store is kept within `max_bytes` on disk: its events may take that less a
reserve for the database's own pages and journal (an eighth, at most 16 MiB);
when a write would take them past that, the oldest events of any group are
evicted first (down to 90%, so it is not every write) and a warning says what
went. A group's retention is applied by the
sweeper (`run_sweeper`).
"""

from __future__ import annotations

import copy
import logging
import math
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import anyio

from lambdad.catalog import LoggingConfig
from lambdad.concurrency import run_sync
from lambdad.store import DatabaseError, LogEventRow, LogStore, NewChunk, Removed
from lambdad.telemetry.events import (
    EventBlock,
    LineSplitter,
    LogTail,
    make_block,
    platform_messages,
)
from lambdad.telemetry.live_tail import LiveTail, TailPublisher
from lambdad.telemetry.log_format import TEXT, LogFormatting
from lambdad.telemetry.queue import BoundedQueue
from lambdad.telemetry.retention import check_retention_days

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 1 << 30
"""The log store's default size cap (1 GiB)."""
QUEUE_BYTES = 2 << 20
"""What may wait for the writer; a producer waits while it is full."""
BATCH_BYTES = 1 << 20
"""What the writer stores in one transaction."""
CHUNK_BYTES = 1 << 20
"""A stored chunk holds up to about this much of one stream's messages."""
CHUNK_EVENTS = 1 << 16
STORE_RETRIES_S = (0.5, 2.0, 5.0)
"""The writer's waits before it tries a failed batch again (then it gives up on it)."""
BLOCK_OVERHEAD = 256
"""What a queued block costs beyond its messages (objects, names): a flood of tiny
blocks is bounded too."""
EVICT_TO = 0.9
MAX_RESERVE = 16 << 20
INDEX_SHARE = 0.75
"""What the full-text index takes per byte of events until it is measured (high for
text with many distinct words, as request ids make it; a flood of one repeated
line takes almost nothing)."""
MEASURE_MIN = 1 << 20
"""Below this many bytes of events the index's share is not measured but assumed."""


def event_budget(max_bytes: int) -> int:
    """How many bytes of events a store of `max_bytes` on disk keeps."""
    return max_bytes - min(max_bytes // 8, MAX_RESERVE)


def new_stream_name(version: str, now: float | None = None) -> str:
    """AWS's stream naming: 2024/01/31/[$LATEST]0123456789abcdef0123456789abcdef."""
    day = time.strftime("%Y/%m/%d", time.gmtime(time.time() if now is None else now))
    return f"{day}/[{version}]{secrets.token_hex(16)}"


@dataclass(frozen=True)
class Report:
    request_id: str
    duration_ms: float
    memory_size_mb: int
    max_memory_used_mb: int
    init_duration_ms: float | None = None
    restore_duration_ms: float | None = None
    """A SnapStart environment's first invocation: its restore (instead of Init)."""
    restore_billed_ms: float | None = None
    """The part of the restore AWS bills: the runtime's own (its start after the
    fork and the after-restore hooks), not the platform's (None: all of it)."""

    @property
    def billed_restore_duration_ms(self) -> int | None:
        if self.restore_duration_ms is None:
            return None
        billed = self.restore_billed_ms
        return max(1, math.ceil(self.restore_duration_ms if billed is None else billed))

    @property
    def billed_duration_ms(self) -> int:
        # Lambda bills in 1 ms steps, rounding up; since August 2025 a cold start's
        # Init phase is billed too, for every runtime and package type. A SnapStart
        # restore's billed part is in it too (AWS's REPORT lines: Billed Duration =
        # ceil(Duration + Billed Restore Duration)).
        extra = self.init_duration_ms or 0.0
        extra += self.billed_restore_duration_ms or 0
        return max(1, math.ceil(self.duration_ms + extra))

    @property
    def gb_seconds(self) -> float:
        return self.memory_size_mb / 1024 * self.billed_duration_ms / 1000

    def line(self) -> str:
        text = (
            f"REPORT RequestId: {self.request_id}\tDuration: {self.duration_ms:.2f} ms\t"
            f"Billed Duration: {self.billed_duration_ms} ms\t"
            f"Memory Size: {self.memory_size_mb} MB\t"
            f"Max Memory Used: {self.max_memory_used_mb} MB\t"
        )
        if self.init_duration_ms is not None:
            text += f"Init Duration: {self.init_duration_ms:.2f} ms\t"
        if self.restore_duration_ms is not None:
            text += (
                f"Restore Duration: {self.restore_duration_ms:.2f} ms\t"
                f"Billed Restore Duration: {self.billed_restore_duration_ms} ms\t"
            )
        return text


class _Queued(NamedTuple):
    region: str
    group: str
    stream: str
    block: EventBlock


@dataclass
class _Shared:
    """What every region's `FunctionLogs` shares: one queue, one writer, one size."""

    queue: BoundedQueue[_Queued]
    writing: anyio.Lock = field(default_factory=anyio.Lock)
    size: float | None = None
    """Bytes in the store (events and their share of the index), once counted."""
    weight: float = 1 + INDEX_SHARE
    """Bytes on disk per byte of events: the index's share included (measured by
    every sweep)."""
    live_tail: LiveTail = field(default_factory=LiveTail)
    """This server's Live Tail sessions."""
    publisher: TailPublisher | None = None
    """Where stored events are published for Live Tail sessions: `live_tail` unless
    `publish_tail_to` named another."""
    flush_elsewhere: Callable[[], Awaitable[object]] | None = None
    """Stores what other server processes' writers hold (`flush_others_with`)."""


class StreamLog:
    """Writes one phase (Init, or one invocation) to a log stream: the environment's
    output (an `OutputSink`) and lambdad's own lines, in order; keeps the tail."""

    def __init__(
        self, logs: FunctionLogs, group: str, stream: str, formatting: LogFormatting = TEXT
    ) -> None:
        self.logs = logs
        self.group = group
        self.stream = stream
        self.formatting = formatting
        """The function's LoggingConfig: how platform lines look, which events stay."""
        self._lines = LineSplitter()
        self._tail = LogTail()

    async def write(self, chunk: bytes) -> None:
        await self._put(self._lines.feed(chunk))

    async def end(self) -> None:
        await self._put(self._lines.end())

    async def platform(self, *lines: str) -> None:
        """lambdad's lines (START, END, REPORT...), after any partial line of output."""
        await self._put(self._lines.end() + platform_messages(list(lines)))

    def tail(self) -> bytes:
        """The last 4 KB written through this object, one event per line."""
        return self._tail.value()

    async def _put(self, messages: list[bytes]) -> None:
        if self.formatting.filters:
            messages = [message for message in messages if self.formatting.keep(message)]
        logs = self.logs
        block = make_block(logs.now_ms(), messages)
        if block is not None:
            self._tail.add(block)
            item = _Queued(logs.region, self.group, self.stream, block)
            if not logs.enqueue_nowait(item):
                await logs.enqueue(item)


class FunctionLogs:
    """Writes and reads the log groups of functions (`/aws/lambda/<name>`).

    Writes are queued and stored in batches by `run()`, off the invocation's
    path; a read flushes first, so readers see everything written before it.
    Log groups are regional: this object reads and writes its store's region's
    (`in_region` for another's); the queue, the writer and the size cap are
    the server's.
    """

    def __init__(
        self,
        store: LogStore,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        queue_bytes: int = QUEUE_BYTES,
        linger_s: float = 0.05,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self.budget = event_budget(max_bytes)
        self.linger_s = linger_s
        self.clock = clock
        self._shared = _Shared(BoundedQueue(queue_bytes))
        self._queue = self._shared.queue
        self._writing = self._shared.writing
        self._regions: dict[str, FunctionLogs] = {store.region: self}

    @property
    def region(self) -> str:
        return self.store.region

    def in_region(self, region: str) -> FunctionLogs:
        """The log groups of `region`, written through the same queue and writer."""
        found = self._regions.get(region)
        if found is None:
            found = copy.copy(self)
            found.store = self.store.in_region(region)
            self._regions[region] = found
        return found

    def open_output(
        self, region: str, group: str, stream: str, logging: LoggingConfig | None = None
    ) -> StreamLog:
        """Where an environment of a function of `region` writes its output."""
        return self.in_region(region).stream(group, stream, LogFormatting.of(logging))

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    @property
    def live_tail(self) -> LiveTail:
        """The server's Live Tail sessions (every region's: one writer publishes)."""
        return self._shared.live_tail

    def publish_tail_to(self, publisher: TailPublisher) -> None:
        """Publish stored events to `publisher` rather than this server's `live_tail`
        (a secondary server process relays them to the primary's sessions)."""
        self._shared.publisher = publisher

    def flush_others_with(self, flush: Callable[[], Awaitable[object]]) -> None:
        """Every `flush` also awaits `flush` first: a primary server process asks its
        secondaries to store what their writers hold, so a read right after an invoke
        that a secondary ran sees its lines, as in one process."""
        self._shared.flush_elsewhere = flush

    def stream(self, group: str, stream: str, formatting: LogFormatting = TEXT) -> StreamLog:
        return StreamLog(self, group, stream, formatting)

    async def enqueue(self, item: _Queued) -> None:
        """Queue a block for the writer; waits while the queue is full (backpressure)."""
        await self._queue.put(item, len(item.block.messages) + BLOCK_OVERHEAD)

    def enqueue_nowait(self, item: _Queued) -> bool:
        """Queue a block if the queue has room now; False: nothing done (`enqueue` it)."""
        return self._queue.put_nowait(item, len(item.block.messages) + BLOCK_OVERHEAD)

    # ---- the writer ------------------------------------------------------------------------

    async def run(self) -> None:
        """The writer loop; the server cancels it and calls `flush()` once more at exit."""
        while True:
            await self._queue.wait_ready(CHUNK_BYTES, self.linger_s)
            try:
                async with self._writing:
                    await self._store_retrying(self._queue.take(BATCH_BYTES))
            except Exception:
                log.exception("logs: write failed; those events are lost")
                await anyio.sleep(1.0)

    async def flush(self) -> None:
        """Store everything queued before this call (in every server process)."""
        if self._shared.flush_elsewhere is not None:
            await self._shared.flush_elsewhere()
        target = self._queue.put_count
        async with self._writing:
            while self._queue.taken_count < target:
                await self._store_retrying(self._queue.take(BATCH_BYTES))

    async def _store_retrying(self, items: list[_Queued]) -> None:
        """`_store`, tried again after a failure (a database locked past its busy
        timeout by another server process, a PostgreSQL restart): a failed append
        stored nothing, so the same batch goes again; the last failure is raised."""
        for wait_s in STORE_RETRIES_S:
            try:
                await self._store(items)
                return
            except DatabaseError as e:
                log.warning("logs: write failed (%s); trying again in %gs", e, wait_s)
            await anyio.sleep(wait_s)
        await self._store(items)

    async def _store(self, items: list[_Queued]) -> None:
        chunks = _chunks(items)
        if chunks:
            # Room first, so the store never holds more than the cap.
            await self._make_room(sum(chunk.size for chunk in chunks))
            stored = await run_sync(self.store.append, chunks)
            self._shared.size = (self._shared.size or 0) + stored * self._shared.weight
            stored_ms = self.now_ms()
            publisher = self._shared.publisher or self._shared.live_tail
            for item in items:
                publisher.publish(item.region, item.group, item.stream, item.block, stored_ms)

    async def _measure(self) -> float:
        """The store's bytes (events and index), and the index's share per byte of events."""
        events = await run_sync(self.store.total_bytes)
        index = await run_sync(self.store.index_bytes)
        share = index / events if events >= MEASURE_MIN else INDEX_SHARE
        self._shared.weight = 1 + max(share, 0.0)
        return events + max(index, events * (self._shared.weight - 1))

    async def _make_room(self, incoming: int) -> None:
        """Evict the oldest events if `incoming` more bytes of events (and their index)
        would pass the budget (the caller holds the writing lock)."""
        if self._shared.size is None:
            self._shared.size = await self._measure()
        weight = self._shared.weight
        if self._shared.size + incoming * weight > self.budget:
            over = self._shared.size + incoming * weight - self.budget * EVICT_TO
            removed = await run_sync(self.store.evict_oldest, math.ceil(over / weight))
            self._shared.size -= removed.bytes * weight
            log.warning(
                "logs: the log store passed its size cap (%s): evicted the oldest %d events "
                "(%s, from %s to %s) of %s",
                _size_text(self.max_bytes),
                removed.events,
                _size_text(removed.bytes),
                _time_text(removed.first_ms),
                _time_text(removed.last_ms),
                _groups_text(removed),
            )

    def writing(self) -> anyio.Lock:
        """The writer's lock: held, no events are stored (and none evicted)."""
        return self._writing

    def forget_size(self) -> None:
        """The store's size changed behind the writer's back (held `writing()`): count again."""
        self._shared.size = None

    # ---- retention -------------------------------------------------------------------------

    async def put_retention_policy(self, group: str, days: int | None) -> None:
        """Set a group's retention (CloudWatch's PutRetentionPolicy; None deletes it)."""
        if days is not None:
            check_retention_days(days)
        await run_sync(self.store.put_retention_policy, group, days, self.now_ms())

    async def retention_days(self, group: str) -> int | None:
        return await run_sync(self.store.retention_days, group)

    async def sweep(self) -> Removed:
        """Delete the events that outlived their group's retention, and the oldest
        ones of a store that is over its cap (a server restarted with a smaller one)."""
        async with self._writing:
            removed = await run_sync(self.store.delete_expired, self.now_ms())
            self._shared.size = None  # counted again, with the index's share measured
            await self._make_room(0)
        if removed.events:
            log.info(
                "logs: retention deleted %d events (%s, from %s to %s) of %s",
                removed.events,
                _size_text(removed.bytes),
                _time_text(removed.first_ms),
                _time_text(removed.last_ms),
                _groups_text(removed),
            )
        return removed

    async def run_sweeper(self, interval_s: float) -> None:
        """The retention loop: a sweep now, then every `interval_s`."""
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("logs: retention sweep failed")
            await anyio.sleep(interval_s)

    # ---- reads -----------------------------------------------------------------------------

    async def read(self, group: str, after_id: int = 0, limit: int = 1000) -> list[LogEventRow]:
        await self.flush()
        return await run_sync(self.store.events, group, after_id, limit)

    async def last_id(self, group: str) -> int:
        await self.flush()
        return await run_sync(self.store.last_id, group)

    async def tail_start(self, group: str, count: int) -> int:
        """The id to read after for the group's last `count` events."""
        await self.flush()
        return await run_sync(self.store.tail_start, group, count)


def _chunks(items: list[_Queued]) -> list[NewChunk]:
    """Queued blocks as chunks: a stream's blocks together, in order, each chunk
    up to CHUNK_BYTES / CHUNK_EVENTS."""
    open_chunks: dict[tuple[str, str, str], _ChunkBuilder] = {}
    chunks: list[NewChunk] = []
    for item in items:
        key = (item.region, item.group, item.stream)
        builder = open_chunks.get(key)
        if builder is None or not builder.fits(item.block):
            if builder is not None:
                chunks.append(builder.build())
            builder = open_chunks[key] = _ChunkBuilder(*key)
        builder.add(item.block)
    chunks += [builder.build() for builder in open_chunks.values()]
    return chunks


class _ChunkBuilder:
    def __init__(self, region: str, group: str, stream: str) -> None:
        self.region = region
        self.group = group
        self.stream = stream
        self.runs: list[tuple[int, int]] = []
        self.messages: list[bytes] = []
        self.bytes = 0
        self.events = 0

    def fits(self, block: EventBlock) -> bool:
        return not self.messages or (
            self.bytes + len(block.messages) <= CHUNK_BYTES
            and self.events + block.count <= CHUNK_EVENTS
        )

    def add(self, block: EventBlock) -> None:
        if self.runs and self.runs[-1][0] == block.timestamp_ms:
            self.runs[-1] = (block.timestamp_ms, self.runs[-1][1] + block.count)
        else:
            self.runs.append((block.timestamp_ms, block.count))
        self.messages.append(block.messages)
        self.bytes += len(block.messages) + 1
        self.events += block.count

    def build(self) -> NewChunk:
        messages = b"\n".join(self.messages)
        return NewChunk(self.group, self.stream, self.runs, messages, region=self.region)


def _size_text(size: int) -> str:
    if size < 1024:
        return f"{size} bytes"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB"):
        value /= 1024
        if value < 1024 or unit == "GiB":
            break
    return f"{value:.1f} {unit}"


def _time_text(ms: int | None) -> str:
    if ms is None:
        return "-"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def _groups_text(removed: Removed) -> str:
    groups = sorted(removed.groups)
    more = f" and {len(groups) - 5} more groups" if len(groups) > 5 else ""
    return ", ".join(groups[:5]) + more
