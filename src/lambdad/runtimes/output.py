"""Where an execution environment's output goes: the function's stdout/stderr and
its children's, as init relays it, plus the platform's notices.

The environment awaits `write()` for every piece it reads from its channel and
reads nothing more meanwhile, so a sink that is slow to take output slows the
function's writes down (backpressure) rather than making anyone buffer it.
"""

from __future__ import annotations

from typing import Protocol


class OutputSink(Protocol):
    async def write(self, chunk: bytes) -> None:
        """Take the next piece of output (any size, cut anywhere, not always UTF-8)."""

    async def end(self) -> None:
        """A phase (Init, an invocation) is over: a partial last line stands as it is."""


class DiscardOutput:
    """The sink of an environment nobody reads the logs of (tests, tools)."""

    async def write(self, chunk: bytes) -> None:
        pass

    async def end(self) -> None:
        pass
