"""Live Tail across server processes: a secondary's stored log events reach the
primary's sessions.

Live Tail sessions live in the primary (StartLiveTail is forwarded there), fed
in-process by its log writer. A secondary's writer stores its own functions'
events and publishes them to a `LiveTailPublisher` instead, which relays them
over a UNIX socket to the primary's `LiveTailReceiver`, which publishes them to
its `LiveTail` as if its own writer had stored them (with the secondary's
ingestion time).

Only what a session wants crosses: the receiver tells every connected
publisher the (region, log group) pairs its open sessions tail, at once when a
session opens or closes, and a publisher drops everything else in `publish`
(one set lookup: with no session open, relaying costs nothing more).
`publish` runs on the writer's path and never waits: it only queues, up to
`capacity_bytes`; a primary that reads slower than events come (or is gone)
makes blocks drop, counted (`dropped_events`) and logged once per episode.

    primary -> secondary   Wanted([(region, group), ...])   on connect, on every change
    secondary -> primary   Block(region, group, stream, timestamp_ms, count,
                                 messages, ingestion_ms)     one stored EventBlock

Frames are a 4-byte big-endian length and a msgpack array; the receiver
refuses frames over MAX_FRAME and closes a connection that sends garbage.

Wiring (the workers supervisor's; server.py does not know this module):

    # the primary, before it starts secondaries (`path` in its private run dir):
    receiver = LiveTailReceiver(logs.live_tail, path)
    await task_group.start(receiver.serve)        # unlinks `path` when cancelled

    # each secondary, before its log writer runs:
    publisher = LiveTailPublisher(path)
    logs.publish_tail_to(publisher)
    task_group.start_soon(publisher.run)          # connects, reconnects, relays
"""

from __future__ import annotations

import logging
import os
import struct
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import suppress
from functools import partial
from pathlib import Path

import anyio
import msgspec
from anyio.abc import ByteStream, SocketStream, TaskStatus
from anyio.streams.buffered import BufferedByteReceiveStream

from lambdad.telemetry.events import EventBlock
from lambdad.telemetry.live_tail import BUFFER_BYTES, LiveTail

log = logging.getLogger(__name__)

MAX_FRAME = 64 << 20
"""The largest frame the receiver takes (a block is a writer's batch at most)."""
RECONNECT_S = (0.05, 2.0)
"""A publisher's wait before connecting again: first, and at most (doubling)."""
_LENGTH = struct.Struct(">I")
_GONE = (
    anyio.EndOfStream,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.IncompleteRead,
    ConnectionError,
)
"""What a read or write raises when the other end went away."""


class Wanted(msgspec.Struct, array_like=True):
    """The (region, log group) pairs the primary's open sessions tail."""

    pairs: list[tuple[str, str]]


class Block(msgspec.Struct, array_like=True):
    """One block of events a secondary's writer stored."""

    region: str
    group: str
    stream: str
    timestamp_ms: int
    count: int
    messages: bytes
    ingestion_ms: int


def _frame(message: Wanted | Block) -> bytes:
    body = msgspec.msgpack.encode(message)
    return _LENGTH.pack(len(body)) + body


async def _until_one_ends(what: str, *jobs: Callable[[], Awaitable[None]]) -> None:
    """Run `jobs` (one connection's reading and writing) until one of them ends:
    the connection went, or the other end sent a bad frame (logged)."""
    async with anyio.create_task_group() as tasks:

        async def run(job: Callable[[], Awaitable[None]]) -> None:
            try:
                await job()
            except _GONE:
                log.debug("live tail relay: %s went away", what)
            except (ValueError, msgspec.DecodeError):
                log.exception("live tail relay: %s sent a bad frame; disconnected", what)
            finally:
                tasks.cancel_scope.cancel()

        for job in jobs:
            tasks.start_soon(run, job)


async def _read_frame(reader: BufferedByteReceiveStream) -> bytes:
    (length,) = _LENGTH.unpack(await reader.receive_exactly(_LENGTH.size))
    if length > MAX_FRAME:
        raise ValueError(f"a frame of {length} bytes")
    return await reader.receive_exactly(length)


class LiveTailReceiver:
    """The primary's end: serves `path`, tells publishers what is tailed, and
    publishes what they relay to `live_tail`."""

    def __init__(self, live_tail: LiveTail, path: str | Path) -> None:
        self.live_tail = live_tail
        self.path = str(path)
        self.received_blocks = 0
        self._wanted = live_tail.tailed()
        self._peers: dict[int, anyio.Event] = {}
        live_tail.on_sessions_change(self._sessions_changed)

    @property
    def connected(self) -> int:
        """Publishers connected now."""
        return len(self._peers)

    async def serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Accept publishers until cancelled; then the socket file goes."""
        with suppress(FileNotFoundError):
            os.unlink(self.path)
        listener = await anyio.create_unix_listener(self.path)
        try:
            os.chmod(self.path, 0o600)
            task_status.started()
            await listener.serve(self._serve_one)
        finally:
            with anyio.CancelScope(shield=True):
                await listener.aclose()
            with suppress(FileNotFoundError):
                os.unlink(self.path)

    def _sessions_changed(self) -> None:
        wanted = self.live_tail.tailed()
        if wanted != self._wanted:
            self._wanted = wanted
            for wake in self._peers.values():
                wake.set()

    async def _serve_one(self, stream: SocketStream) -> None:
        peer = id(stream)
        self._peers[peer] = anyio.Event()
        reader = BufferedByteReceiveStream(stream)
        try:
            async with stream:
                await _until_one_ends(
                    "a publisher",
                    partial(self._tell_wanted, stream, peer),
                    partial(self._receive, reader),
                )
        finally:
            del self._peers[peer]

    async def _tell_wanted(self, stream: ByteStream, peer: int) -> None:
        told: frozenset[tuple[str, str]] | None = None
        while True:
            wanted = self._wanted
            if wanted != told:
                await stream.send(_frame(Wanted(sorted(wanted))))
                told = wanted
            await self._peers[peer].wait()
            self._peers[peer] = anyio.Event()

    async def _receive(self, reader: BufferedByteReceiveStream) -> None:
        decoder = msgspec.msgpack.Decoder(Block)
        while True:
            block = decoder.decode(await _read_frame(reader))
            self.received_blocks += 1
            self.live_tail.publish(
                block.region,
                block.group,
                block.stream,
                EventBlock(block.timestamp_ms, block.count, block.messages),
                block.ingestion_ms,
            )


class LiveTailPublisher:
    """A secondary's end: `publish` (a `TailPublisher`, for `FunctionLogs`) queues
    what the primary's sessions want; `run` connects and relays the queue."""

    def __init__(self, path: str | Path, capacity_bytes: int = BUFFER_BYTES) -> None:
        self.path = str(path)
        self.capacity_bytes = capacity_bytes
        self.wanted: frozenset[tuple[str, str]] = frozenset()
        """What the primary's sessions tail (nothing while not connected)."""
        self.sent_blocks = 0
        self.dropped_blocks = 0
        self.dropped_events = 0
        self._queue: deque[Block] = deque()
        self._queued_bytes = 0
        self._dropping = False
        self._ready: anyio.Event | None = None  # made by `_send`, in the event loop

    def publish(self, region: str, group: str, stream: str, block: EventBlock, now_ms: int) -> None:
        """Queue a stored block for the primary if a session there tails its group;
        never waits (on the log writer's path)."""
        if (region, group) not in self.wanted:
            return
        size = len(block.messages)
        if self._queue and self._queued_bytes + size > self.capacity_bytes:
            self.dropped_blocks += 1
            self.dropped_events += block.count
            if not self._dropping:
                self._dropping = True
                log.warning(
                    "live tail relay: the primary reads slower than events come; "
                    "dropping events for its sessions (counted, logged once)"
                )
            return
        self._queue.append(
            Block(region, group, stream, block.timestamp_ms, block.count, block.messages, now_ms)
        )
        self._queued_bytes += size
        if self._ready is not None:
            self._ready.set()

    async def run(self) -> None:
        """Connect to the primary and relay until cancelled; connect again if the
        connection ends (nothing is wanted in between)."""
        wait_s = RECONNECT_S[0]
        while True:
            try:
                stream = await anyio.connect_unix(self.path)
            except OSError as e:
                log.debug("live tail relay: cannot connect to %s yet: %s", self.path, e)
            else:
                wait_s = RECONNECT_S[0]
                reader = BufferedByteReceiveStream(stream)
                try:
                    async with stream:
                        await _until_one_ends(
                            "the primary",
                            partial(self._read_wanted, reader),
                            partial(self._send, stream),
                        )
                finally:
                    self._forget()
            await anyio.sleep(wait_s)
            wait_s = min(wait_s * 2, RECONNECT_S[1])

    async def _read_wanted(self, reader: BufferedByteReceiveStream) -> None:
        decoder = msgspec.msgpack.Decoder(Wanted)
        while True:
            pairs = decoder.decode(await _read_frame(reader)).pairs
            self.wanted = frozenset((region, group) for region, group in pairs)
            if not self.wanted:
                self._forget()  # no session left: what is queued has nobody to go to

    async def _send(self, stream: ByteStream) -> None:
        while True:
            self._ready = anyio.Event()  # before the queue is read: no wake-up is lost
            while self._queue:
                block = self._queue.popleft()
                self._queued_bytes -= len(block.messages)
                await stream.send(_frame(block))
                self.sent_blocks += 1
            if self._dropping:
                self._dropping = False
                log.info(
                    "live tail relay: relaying again (%d events dropped so far)",
                    self.dropped_events,
                )
            await self._ready.wait()

    def _forget(self) -> None:
        self.wanted = frozenset()
        self._queue.clear()
        self._queued_bytes = 0
