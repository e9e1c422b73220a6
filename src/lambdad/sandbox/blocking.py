"""The one way async code in `sandbox/` runs blocking work (cgroupfs, mount, spawn)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

import anyio.to_thread

T = TypeVar("T")


async def run_blocking(fn: Callable[[], T]) -> T:
    """Run `fn` in a worker thread; the event loop keeps serving meanwhile."""
    return await anyio.to_thread.run_sync(fn)


async def wait_future(fut: Future[T]) -> T:
    """Wait for a future run by a dedicated thread (e.g. the spawn thread)."""
    return await anyio.to_thread.run_sync(fut.result)
