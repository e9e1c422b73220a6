"""uvicorn serving connections it did not accept itself (`lambdad server --workers N`).

uvicorn serves the listening sockets it is given (`Server.startup` makes a
`loop.create_server` of each). With several processes, the primary accepts every
TCP connection itself and picks which process serves it (`balance.Balancer`), and
a secondary serves the connections the primary hands it (`handoff.HandOffReceiver`).
Both are a `Front`: started once uvicorn has started, stopped first thing at its
shutdown, and given `FrontedServer.serve_connection` to serve an accepted socket
in this process. That builds uvicorn's HTTP protocol exactly as `Server.startup`
does (its config, server state and the lifespan's state) and attaches it with
`loop.connect_accepted_socket`, so the connection is one of uvicorn's own: in its
connection set, shut down (after its request in flight) by its graceful stop.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any, Protocol

import uvicorn

log = logging.getLogger(__name__)

OnClosed = Callable[[], None]
Serve = Callable[[socket.socket, OnClosed], None]
"""Serve an accepted connection in this process (it owns the socket from then on);
`on_closed` is called once, when the connection is closed or could not be served."""


class Front(Protocol):
    """Where a `FrontedServer`'s connections come from."""

    def start(self, serve: Serve) -> None:
        """Take connections (on the running loop) and `serve` them; called once the
        server has started (its lifespan included)."""

    def stop(self) -> None:
        """Take no more connections; called first at the server's shutdown, before
        uvicorn shuts down the ones it serves."""


class FrontedServer(uvicorn.Server):
    """A uvicorn server that also serves `front`'s connections (see the module doc)."""

    def __init__(self, config: uvicorn.Config, front: Front) -> None:
        super().__init__(config)
        self.front = front
        self._attaching: set[asyncio.Task[None]] = set()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self.front.start(self.serve_connection)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.front.stop()
        # A connection being attached now joins uvicorn's set before it shuts them down.
        if self._attaching:
            await asyncio.gather(*self._attaching, return_exceptions=True)
        await super().shutdown(sockets=sockets)

    def serve_connection(self, sock: socket.socket, on_closed: OnClosed) -> None:
        """`Serve`: uvicorn's HTTP protocol on `sock` (see the module doc)."""
        task = asyncio.get_running_loop().create_task(self._attach(sock, _once(on_closed)))
        self._attaching.add(task)
        task.add_done_callback(self._attaching.discard)

    async def _attach(self, sock: socket.socket, on_closed: OnClosed) -> None:
        loop = asyncio.get_running_loop()
        config = self.config
        counted = _closing_protocol(config.http_protocol_class)

        def protocol() -> asyncio.Protocol:
            made: Any = counted(
                config=config,
                server_state=self.server_state,
                app_state=self.lifespan.state,
                _loop=loop,
            )
            made.lambdad_on_closed = on_closed
            return made  # type: ignore[no-any-return]

        try:
            await loop.connect_accepted_socket(protocol, sock)
        except Exception as exc:  # the client went away already, or no fd left
            log.debug("a connection could not be served: %s", exc)
            sock.close()
            on_closed()


_closing: dict[type[asyncio.Protocol], Any] = {}


def _closing_protocol(base: type[asyncio.Protocol]) -> Any:
    """`base` (uvicorn's HTTP protocol class) that calls its `lambdad_on_closed` once
    the connection is lost (asyncio calls `connection_lost` once per connection)."""
    made = _closing.get(base)
    if made is None:

        def connection_lost(self: Any, exc: Exception | None) -> None:
            try:
                base.connection_lost(self, exc)
            finally:
                self.lambdad_on_closed()

        attributes = {"connection_lost": connection_lost}
        made = _closing[base] = type(f"Closing{base.__name__}", (base,), attributes)
    return made


def _once(callback: OnClosed) -> OnClosed:
    called = False

    def call() -> None:
        nonlocal called
        if not called:
            called = True
            callback()

    return call
