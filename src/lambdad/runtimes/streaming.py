"""Where a streamed response goes: the function's bytes as the runtime sends them.

A runtime that posts its response in the Runtime API's streaming mode
(`Lambda-Runtime-Function-Response-Mode: streaming`) has it relayed piece by
piece: the environment calls `start()` once, then `write()` for each piece,
and awaits each call before it reads the next piece from its channel. A
`ResponseStream` that is slow to take bytes therefore slows the function's
writes down (back-pressure) instead of making anyone buffer them.

How the stream ended (cleanly, with the function's error, or cut short)
comes back in the `InvokeOutcome` (`streamed=True`), never through the
stream itself.
"""

from __future__ import annotations

from typing import Protocol

MAX_STREAMED_RESPONSE = 200 * 1024 * 1024
"""AWS's default limit for a streamed response (200 MB since July 2025; 20 MB before)."""


class ResponseStream(Protocol):
    async def start(self, content_type: str) -> None:
        """The function began streaming, with this Content-Type (never called twice)."""

    async def write(self, chunk: bytes) -> None:
        """The next piece of the response (any size, cut anywhere)."""


class BufferedResponse:
    """A stream kept whole: how a streaming function answers a buffered Invoke.

    Bounded by the limit the invocation gives init (6 MB for Invoke), which
    the environment enforces as well."""

    def __init__(self) -> None:
        self.content_type: str | None = None
        self._chunks: list[bytes] = []

    async def start(self, content_type: str) -> None:
        self.content_type = content_type

    async def write(self, chunk: bytes) -> None:
        self._chunks.append(chunk)

    @property
    def body(self) -> bytes:
        return b"".join(self._chunks)
