"""A streamed answer stops when its client goes away.

uvicorn drops what is sent to a client that disconnected without a word, so a
response that streams an invocation would keep a function running (and its
environment busy) until the function's timeout for nobody. Inside
`cancelled_on_disconnect(receive)`, the request's `http.disconnect` cancels the
block: the invocation is cancelled, and its environment destroyed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from starlette.types import Receive


@asynccontextmanager
async def cancelled_on_disconnect(receive: Receive) -> AsyncIterator[None]:
    """Call only once the request's body has been read (what follows it is the
    disconnect)."""
    async with anyio.create_task_group() as tasks:

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            tasks.cancel_scope.cancel()

        tasks.start_soon(watch)
        try:
            yield
        finally:
            tasks.cancel_scope.cancel()
