"""Background work owned by the server's lifespan (one task group, no strays)."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from anyio.abc import TaskGroup

log = logging.getLogger(__name__)


def stopping() -> bool:
    """Whether the calling task is being cancelled (the server is stopping). A failure
    then is the stop's doing, not a fault: e.g. a sandbox start whose spawn thread was
    shut down ends in `concurrent.futures.CancelledError`, an ordinary `Exception`."""
    return anyio.current_effective_deadline() == -math.inf


def log_failure(logger: logging.Logger, message: str, *args: object) -> None:
    """Log the exception being handled at ERROR with its traceback, or, while the
    server stops (`stopping`), as one INFO line: a clean stop logs no error."""
    if stopping():
        logger.info(message + " (server stopping)", *args)
    else:
        logger.exception(message, *args)


class Background:
    """Starts coroutines in the server's task group; they end with the server."""

    def __init__(self) -> None:
        self._group: TaskGroup | None = None

    def attach(self, group: TaskGroup | None) -> None:
        self._group = group

    def spawn(self, func: Callable[[], Awaitable[None]]) -> None:
        if self._group is None:
            raise RuntimeError("background work started before the server")

        async def guarded() -> None:
            try:
                await func()
            except Exception:
                log_failure(log, "background task %s failed", getattr(func, "__name__", func))

        self._group.start_soon(guarded)


async def flush_periodically(
    flush: Callable[[], Awaitable[None]], interval_s: float, what: str
) -> None:
    """Call `flush` every `interval_s` until cancelled; a failed flush is logged and its
    work stays with the flusher for the next round (the caller keeps what it could not write)."""
    while True:
        await anyio.sleep(interval_s)
        try:
            await flush()
        except Exception:
            log_failure(log, "%s: flush failed; kept for the next one", what)


async def keep_running(
    loop: Callable[..., Awaitable[None]],
    *args: Any,
    first_pause_s: float = 1.0,
    max_pause_s: float = 30.0,
) -> None:
    """Run one of the server's endless loops until cancelled. A loop that crashes is
    logged and started again after a pause that doubles up to `max_pause_s`: left to
    itself, its exception would cancel the server's task group, and with it every
    other loop and the environment pool, while the API went on answering."""
    pause_s = first_pause_s
    while True:
        try:
            await loop(*args)
            return
        except Exception:
            name = getattr(loop, "__qualname__", repr(loop))
            if stopping():
                log_failure(log, "%s ended", name)
                return
            log.exception("%s crashed; starting it again in %.0f s", name, pause_s)
        await anyio.sleep(pause_s)
        pause_s = min(pause_s * 2, max_pause_s)
