"""The one way blocking work (SQL, filesystem, process spawn) leaves the event loop."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import anyio.to_thread

P = ParamSpec("P")
T = TypeVar("T")


async def run_sync(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run `func` in a worker thread and await its result (starlette's run_in_threadpool)."""
    return await anyio.to_thread.run_sync(functools.partial(func, *args, **kwargs))
