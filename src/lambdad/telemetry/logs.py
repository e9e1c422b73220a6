"""Function logs as Lambda writes them: one stream per execution environment,
START / the function's output / END / REPORT per invocation.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from dataclasses import dataclass

import anyio

from lambdad.concurrency import run_sync
from lambdad.store import LogEventRow, LogStore

log = logging.getLogger(__name__)

TAIL_BYTES = 4096


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

    @property
    def billed_duration_ms(self) -> int:
        # Lambda bills in 1 ms steps, rounding up, and the Init phase of
        # managed runtimes is not billed on on-demand cold starts.
        return max(1, math.ceil(self.duration_ms))

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
        return text


def output_lines(output: bytes) -> list[str]:
    """The function's output as log events: one per line, as Lambda splits it."""
    text = output.decode("utf-8", "replace")
    return [line for line in text.splitlines() if line.strip()]


class FunctionLogs:
    """Writes and reads a function's log groups (`/aws/lambda/<name>`).

    Writes are buffered and stored in batches by `run()` (every
    `flush_interval_s`), off the invocation's path; a read flushes first, so
    readers always see everything written before it.
    """

    def __init__(self, store: LogStore, flush_interval_s: float = 0.1) -> None:
        self.store = store
        self.flush_interval_s = flush_interval_s
        self._events: list[tuple[str, str, int, str]] = []
        self._flushing = anyio.Lock()

    async def open_stream(self, group: str, stream: str) -> None:
        await run_sync(self.store.create_stream, group, stream, int(time.time() * 1000))

    async def write(self, group: str, stream: str, lines: list[str]) -> None:
        now = int(time.time() * 1000)
        self._events.extend((group, stream, now, line) for line in lines)

    async def flush(self) -> None:
        async with self._flushing:
            events, self._events = self._events, []
            if events:
                await run_sync(self.store.append, events)

    async def run(self) -> None:
        """The flush loop; the server cancels it and calls `flush()` once more at exit."""
        while True:
            await anyio.sleep(self.flush_interval_s)
            try:
                await self.flush()
            except Exception:
                log.exception("logs: flush failed")

    async def read(self, group: str, after_id: int = 0, limit: int = 1000) -> list[LogEventRow]:
        await self.flush()
        return await run_sync(self.store.events, group, after_id, limit)

    async def last_id(self, group: str) -> int:
        await self.flush()
        return await run_sync(self.store.last_id, group)


def tail(lines: list[str], limit: int = TAIL_BYTES) -> bytes:
    """The last `limit` bytes of an invocation's log (X-Amz-Log-Result)."""
    data = "".join(f"{line}\n" for line in lines).encode()
    return data[-limit:]
