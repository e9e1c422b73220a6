"""New log events, as they are stored, for CloudWatch Logs' Live Tail sessions.

The log writer (`FunctionLogs`) publishes every batch it stores here, and each
session subscribes to the log groups (and streams) it tails. A subscriber's
buffer is bounded (AWS's 5,000 events): when its session falls behind, the
oldest blocks go and are counted, and the session reports its next update as
sampled, as AWS does. Publishing never waits and never grows memory, so a slow
client cannot slow the writer down; what a session does with its blocks
(splitting, the filter pattern) happens in its own task.
"""

from __future__ import annotations

import logging
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from lambdad.telemetry.events import EventBlock
from lambdad.telemetry.log_errors import LogsError

log = logging.getLogger(__name__)

BUFFER_EVENTS = 5000
"""What AWS buffers for a session that reads slower than events come."""
BUFFER_BYTES = 2 << 20
"""And a bound on their bytes (events may be 256 KB each): 100 sessions hold 200 MiB at most."""
MAX_SESSIONS = 100
"""Live Tail sessions one server keeps open at once."""


class LiveTailLimitExceeded(LogsError):
    code = "LimitExceededException"
    status = 400


@dataclass(frozen=True)
class TailBlock:
    group: str
    stream: str
    ingestion_ms: int
    block: EventBlock


@dataclass(frozen=True)
class StreamFilter:
    """Which streams of the tailed groups a session wants (all, by name, by prefix)."""

    names: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()

    def wants(self, stream: str) -> bool:
        if self.names:
            return stream in self.names
        if self.prefixes:
            return stream.startswith(self.prefixes)
        return True


class Subscription:
    """One session's bounded buffer of the blocks published for its groups."""

    def __init__(
        self,
        region: str,
        groups: frozenset[str],
        streams: StreamFilter,
        capacity: int,
        capacity_bytes: int = BUFFER_BYTES,
    ) -> None:
        self.region = region
        self.groups = groups
        self.streams = streams
        self.capacity = capacity
        self.capacity_bytes = capacity_bytes
        self._blocks: deque[TailBlock] = deque()
        self._events = 0
        self._bytes = 0
        self._dropped = 0

    def wants(self, region: str, group: str, stream: str) -> bool:
        return region == self.region and group in self.groups and self.streams.wants(stream)

    def offer(self, item: TailBlock) -> None:
        self._blocks.append(item)
        self._events += item.block.count
        self._bytes += len(item.block.messages)
        # The oldest go first; the newest block stays even when it alone is too big.
        while (self._events > self.capacity or self._bytes > self.capacity_bytes) and len(
            self._blocks
        ) > 1:
            dropped = self._blocks.popleft()
            self._events -= dropped.block.count
            self._bytes -= len(dropped.block.messages)
            self._dropped += dropped.block.count

    def take(self) -> tuple[list[TailBlock], int]:
        """The buffered blocks and how many events were dropped since the last take."""
        blocks, dropped = list(self._blocks), self._dropped
        self._blocks.clear()
        self._events = self._bytes = self._dropped = 0
        return blocks, dropped


_EVERY: weakref.WeakSet[LiveTail] = weakref.WeakSet()


def end_every_session() -> None:
    """The server is stopping: every session ends at its next update. uvicorn waits for
    open responses before it stops, and a session would otherwise keep it 3 hours.
    (Called from a signal handler: it only sets flags.)"""
    for tail in list(_EVERY):
        tail.stopping = True


class TailPublisher(Protocol):
    """Where the log writer publishes what it stored: the `LiveTail` of its server, or
    (a secondary server process) a relay to the primary's (`workers.live_tail_relay`)."""

    def publish(
        self, region: str, group: str, stream: str, block: EventBlock, now_ms: int
    ) -> None: ...


class LiveTail:
    """The server's broadcaster: the log writer publishes, sessions subscribe."""

    def __init__(
        self,
        max_sessions: int = MAX_SESSIONS,
        capacity: int = BUFFER_EVENTS,
        capacity_bytes: int = BUFFER_BYTES,
    ) -> None:
        self.max_sessions = max_sessions
        self.capacity = capacity
        self.capacity_bytes = capacity_bytes
        self._subscriptions: set[Subscription] = set()
        self._listeners: list[Callable[[], None]] = []
        self.started = 0
        self.ended = 0
        self.stopping = False
        """Set when the server stops: sessions end rather than keep it waiting."""
        _EVERY.add(self)

    @property
    def open_sessions(self) -> int:
        return len(self._subscriptions)

    def tailed(self) -> frozenset[tuple[str, str]]:
        """The (region, log group) pairs some open session tails."""
        return frozenset(
            (subscription.region, group)
            for subscription in self._subscriptions
            for group in subscription.groups
        )

    def on_sessions_change(self, listener: Callable[[], None]) -> None:
        """Call `listener` (on the caller's thread, it must not block) after each
        session opens or closes."""
        self._listeners.append(listener)

    def open(self, region: str, groups: Sequence[str], streams: StreamFilter) -> Subscription:
        """A new session's subscription, counted against `max_sessions` in the same step
        as the check (no await between: concurrent starts cannot pass the cap); its
        owner must `close` it. Raises LiveTailLimitExceeded when the server is full."""
        if len(self._subscriptions) >= self.max_sessions:
            raise LiveTailLimitExceeded(
                f"This server has {self.max_sessions} Live Tail sessions open, its limit."
            )
        subscription = Subscription(
            region, frozenset(groups), streams, self.capacity, self.capacity_bytes
        )
        self._subscriptions.add(subscription)
        self.started += 1
        for listener in self._listeners:
            listener()
        return subscription

    def close(self, subscription: Subscription) -> None:
        """End a session's subscription (again: nothing)."""
        if subscription in self._subscriptions:
            self._subscriptions.discard(subscription)
            self.ended += 1
            for listener in self._listeners:
                listener()

    @contextmanager
    def subscribe(
        self, region: str, groups: Sequence[str], streams: StreamFilter
    ) -> Iterator[Subscription]:
        subscription = self.open(region, groups, streams)
        try:
            yield subscription
        finally:
            self.close(subscription)

    def publish(self, region: str, group: str, stream: str, block: EventBlock, now_ms: int) -> None:
        """A block the writer stored (called on the writer's path: never waits)."""
        for subscription in self._subscriptions:
            if subscription.wants(region, group, stream):
                subscription.offer(TailBlock(group, stream, now_ms, block))
