"""One invocation as a stream of events, for callers that relay a response as it comes.

`streamed_invocation(run)` runs `run(stream)` (an `Invoker.invoke` with its
`response=stream`) in a task and yields what happens, in order:

    Started(content_type)   the function began streaming (at most once)
    bytes                   the next piece of its response
    Finished(result)        the invocation is over (result.streamed tells whether
                            the response came as pieces; else result.payload is it)
    Failed(error)           the invocation was refused or failed outside the function
                            (not found, throttled, ...): nothing ran, or the stream stops

The queue between the two sides holds a few pieces at most: a reader that stops
reading stops the function's writes (back-pressure), never a growing buffer.
Leaving the context early (the caller's client went away, an error) cancels the
invocation, whose environment is then destroyed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from lambdad.errors import LambdadError
from lambdad.invoke.requests import InvokeResult
from lambdad.runtimes import ResponseStream

__all__ = [
    "Failed",
    "Finished",
    "ResponseStream",
    "Run",
    "Started",
    "StreamEvent",
    "streamed_invocation",
]

QUEUED_PIECES = 4
"""How many pieces (64 KB each at most) wait between the function and the reader."""


@dataclass(frozen=True)
class Started:
    content_type: str


@dataclass(frozen=True)
class Finished:
    result: InvokeResult


@dataclass(frozen=True)
class Failed:
    error: LambdadError


StreamEvent = Started | bytes | Finished | Failed
Run = Callable[[ResponseStream], Awaitable[InvokeResult]]


class _Relay:
    """The `ResponseStream` the environment writes to: each piece into the queue."""

    def __init__(self, events: MemoryObjectSendStream[StreamEvent]) -> None:
        self._events = events

    async def start(self, content_type: str) -> None:
        await self._events.send(Started(content_type))

    async def write(self, chunk: bytes) -> None:
        if chunk:
            await self._events.send(chunk)


@asynccontextmanager
async def streamed_invocation(run: Run) -> AsyncIterator[MemoryObjectReceiveStream[StreamEvent]]:
    send, receive = anyio.create_memory_object_stream[StreamEvent](QUEUED_PIECES)

    async def invocation() -> None:
        async with send:
            try:
                result = await run(_Relay(send))
            except LambdadError as exc:
                await send.send(Failed(exc))
                return
            await send.send(Finished(result))

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(invocation)
        try:
            yield receive
        finally:
            # Cancel first: the invocation must not see its queue closed under it.
            tasks.cancel_scope.cancel()
            receive.close()
