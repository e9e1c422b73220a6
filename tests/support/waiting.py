"""Waiting for an event with a deadline, never for a fixed time.

CI runs on a busy two-core machine: a test that sleeps a fixed time and then
expects something to have happened fails whenever the machine is slow. Poll
the condition instead, and fail with a message once the deadline passes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio

T = TypeVar("T")

DEFAULT_TIMEOUT_S = 60.0
"""Generous: a wait returns as soon as its event happens, and a loaded two-core
machine can stall a process for many seconds."""
POLL_INTERVAL_S = 0.01


def wait_until(
    condition: Callable[[], T | None],
    what: str,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    interval_s: float = POLL_INTERVAL_S,
) -> T:
    """Call `condition` until it returns something truthy; return that value.

    Exceptions from `condition` propagate (a condition that cannot be checked
    is a failure, not a reason to keep waiting).
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(interval_s)


async def wait_until_async(
    condition: Callable[[], T | None] | Callable[[], Awaitable[T | None]],
    what: str,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    interval_s: float = POLL_INTERVAL_S,
) -> T:
    """`wait_until` for async tests: sleeps on the event loop between checks."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        await anyio.sleep(interval_s)


def join_thread(thread: threading.Thread, what: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
    """Join `thread` or fail: closing what a live thread still reads from would hand its
    file descriptor number to the next test's sockets."""
    thread.join(timeout=timeout_s)
    if thread.is_alive():
        raise AssertionError(f"timed out after {timeout_s}s waiting for {what} to end")
