"""A FIFO between the producers of log events and the one task that stores them,
bounded by the bytes it holds.

`put()` waits while the queue is full: that wait is the backpressure. The
environment awaiting it stops reading its channel, init's send blocks, init
stops reading the function's pipe, and the function's write() blocks, so a
function that prints faster than the store writes is slowed down instead of
buffered in memory.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

import anyio

T = TypeVar("T")


class BoundedQueue(Generic[T]):
    def __init__(self, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        self.max_bytes = max_bytes
        self._items: deque[tuple[T, int]] = deque()
        self._bytes = 0
        self.put_count = 0
        """Items ever put (a flush waits until this many were taken)."""
        self.taken_count = 0
        # Two wake-ups, so that neither side is woken for nothing: producers
        # waiting for room (on a take), and the consumer, only once what it
        # waits for is there (on a put that reaches `_wanted` bytes).
        self._room = anyio.Event()
        self._arrived = anyio.Event()
        self._wanted = 1

    @property
    def bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    async def put(self, item: T, size: int) -> None:
        """Append `item`, which holds `size` bytes; waits while that would overfill
        the queue. An item bigger than the whole queue goes in alone, when it is empty."""
        while not self.put_nowait(item, size):
            self._room = anyio.Event() if self._room.is_set() else self._room
            await self._room.wait()

    def put_nowait(self, item: T, size: int) -> bool:
        """Append `item` if it fits now (as `put` would without waiting); False if not."""
        if self._items and self._bytes + size > self.max_bytes:
            return False
        self._items.append((item, size))
        self._bytes += size
        self.put_count += 1
        if self._bytes >= self._wanted:
            self._arrived.set()
        return True

    def take(self, max_bytes: int) -> list[T]:
        """Items from the front, up to `max_bytes` together (at least one if any)."""
        taken: list[T] = []
        total = 0
        while self._items and (not taken or total + self._items[0][1] <= max_bytes):
            item, size = self._items.popleft()
            taken.append(item)
            total += size
        if taken:
            self._bytes -= total
            self.taken_count += len(taken)
            self._room.set()
        return taken

    async def wait_ready(self, min_bytes: int, linger_s: float) -> None:
        """Wait for an item, then up to `linger_s` more for `min_bytes` (a fuller batch)."""
        await self._wait_for(1)
        with anyio.move_on_after(linger_s):
            await self._wait_for(min_bytes)

    async def _wait_for(self, wanted: int) -> None:
        try:
            while self._bytes < wanted or not self._items:
                self._wanted = wanted
                self._arrived = anyio.Event()
                await self._arrived.wait()
        finally:
            self._wanted = 1
