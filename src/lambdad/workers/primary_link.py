"""A secondary's HTTP/1.1 connections to the primary's forwarding socket.

A forwarded request must be full duplex, as the client's own connection to one
process is: the primary may answer before it has read the whole body (a 413 for
a body over its limit, a 403 for a bad signature) and close the connection, and
the client must get that answer at once rather than after sending gigabytes or
waiting for its own timeout. httpx writes the whole body before it reads the
response, so the forwarder speaks HTTP/1.1 itself: h11 (httpx's own parser), a
`PrimaryLink` per connection, whose body is sent by one task while another
receives the response (see `forward.Forwarder`).

The link is a non-blocking socket read and written as the loop says it is ready,
with waits of our own: the loop's transports close the whole connection when a
write fails, which loses the answer a primary sent before it closed (it answers a
body over its limit and closes while the body is still being sent); and anyio's
UNIX streams wait with a future that a cancelled wait leaves registered for a
moment, so a socket that turns ready just then raises InvalidStateError in the
loop (the forwarder stops a waiting sender whenever the answer comes first).

`PrimaryLinks` keeps up to `MAX_IDLE` idle keep-alive links for the next requests.
A link is reused only if its last exchange ended cleanly on both sides (request
and response complete, no `connection: close`), it has been idle less than
`IDLE_MAX_S` (well inside uvicorn's 5 s keep-alive, after which the primary closes
it) and the primary has not closed it or sent anything on it since.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable

import anyio
import h11

CONNECT_TIMEOUT_S = 30.0
"""The primary's forwarding socket listens from its start (`supervisor.Cluster`):
a connect waits in its backlog only while the primary is busy."""
MAX_IDLE = 64
IDLE_MAX_S = 2.0
READ_SIZE = 64 * 1024
MAX_HEAD = 100 * 1024
"""The largest response head read (httpcore's bound too)."""


class PrimaryLinkError(Exception):
    """The primary closed the link, or broke HTTP/1.1 on it (the primary is gone or
    going: it never sends a bad response)."""


class _Wire:
    """The link's non-blocking UNIX socket, read and written as it is ready.

    Not a transport: the loop's transports close the whole connection when a write
    fails, and a write fails (EPIPE) as soon as the primary has answered early and
    closed, before the answer it sent first is read. Here a failed write fails the
    sender only; the reader still reads what came (see the module doc)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.loop = asyncio.get_running_loop()
        self.ended = False
        """EOF (or reset) read: nothing more comes."""
        self.broken = False
        """A write failed: nothing more goes."""

    async def read(self) -> bytes:
        """What arrived (waiting for something); b"" once the link ended."""
        while not self.ended:
            try:
                data = self.sock.recv(READ_SIZE)
            except BlockingIOError:
                await self._ready(self.loop.add_reader, self.loop.remove_reader)
                continue
            except OSError:  # reset: the primary closed with our bytes unread
                data = b""
            self.ended = not data
            return data
        return b""

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self.broken:
                raise PrimaryLinkError("the link ended")
            try:
                view = view[self.sock.send(view) :]
            except BlockingIOError:
                await self._ready(self.loop.add_writer, self.loop.remove_writer)
            except OSError as exc:
                self.broken = True
                raise PrimaryLinkError(f"sending: {exc!r}") from exc

    def idle(self) -> bool:
        """Open both ways and nothing to read (a link the primary closed reads EOF)."""
        if self.ended or self.broken:
            return False
        try:
            self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except BlockingIOError:
            return True
        except OSError:
            return False
        return False  # EOF, or bytes nobody asked for

    async def _ready(
        self,
        add: Callable[..., object],
        remove: Callable[[int], object],
    ) -> None:
        """Until the socket is ready. The callback is removed before this returns, even
        cancelled, so nothing of it outlives the wait (nor the socket, closed later)."""
        fd = self.sock.fileno()
        waiter: asyncio.Future[None] = self.loop.create_future()
        add(fd, _wake, waiter)
        try:
            await waiter
        finally:
            remove(fd)

    def close(self) -> None:
        self.sock.close()


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():  # a cancelled wait is done already
        future.set_result(None)


class PrimaryLink:
    """One HTTP/1.1 connection to the primary: one request at a time, whose body
    (`send_body`) and response (`receive_response`, `receive_body`) may be sent
    and received by two tasks at once."""

    def __init__(self, wire: _Wire) -> None:
        self.wire = wire
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
        self.idle_since = time.monotonic()
        self._torn = False
        """A write did not finish (cancelled, failed): h11's state is ahead of the bytes."""

    async def send_head(
        self, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]
    ) -> None:
        """Raises h11.LocalProtocolError (a head h11 refuses) before sending anything."""
        await self._write(self.h11.send(h11.Request(method=method, target=target, headers=headers)))

    async def send_body(self, chunk: bytes) -> None:
        if chunk:
            await self._write(self.h11.send(h11.Data(data=chunk)))

    async def end_body(self) -> None:
        await self._write(self.h11.send(h11.EndOfMessage()))

    async def receive_response(self) -> h11.Response:
        """The response's head (informational responses, such as `100 Continue` for a
        forwarded `Expect`, are skipped)."""
        while True:
            event = await self._next_event()
            if isinstance(event, h11.Response):
                return event
            if not isinstance(event, h11.InformationalResponse):
                raise PrimaryLinkError(f"{type(event).__name__} before a response")

    async def receive_body(self) -> AsyncIterator[bytes]:
        """The response's body, as it arrives."""
        while True:
            event = await self._next_event()
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return

    def reusable(self) -> bool:
        """Both sides ended their message and keep the connection: ready for the next."""
        if self._torn or self.h11.our_state is not h11.DONE:
            return False
        if self.h11.their_state is not h11.DONE or not self.wire.idle():
            return False
        self.h11.start_next_cycle()
        self.idle_since = time.monotonic()
        return True

    def fresh(self) -> bool:
        """Idle briefly, and still open."""
        return time.monotonic() - self.idle_since <= IDLE_MAX_S and self.wire.idle()

    def close(self) -> None:
        """At once, whatever is unsent (the primary sees its client go)."""
        self.wire.close()

    async def _write(self, data: bytes | None) -> None:
        if data:
            self._torn = True
            await self.wire.write(data)
            self._torn = False

    async def _next_event(self) -> h11.Event:
        try:
            while True:
                event = self.h11.next_event()
                if isinstance(event, h11.Event):
                    return event
                if event is h11.PAUSED:  # a second response: never, one request at a time
                    raise PrimaryLinkError("a response after the response")
                self.h11.receive_data(await self.wire.read())
        except h11.RemoteProtocolError as exc:
            raise PrimaryLinkError(str(exc)) from exc


class PrimaryLinks:
    """The idle links to the primary's forwarding socket (see the module doc)."""

    def __init__(self, socket_path: str, max_idle: int = MAX_IDLE) -> None:
        self.socket_path = socket_path
        self.max_idle = max_idle
        self._idle: list[PrimaryLink] = []
        self._closed = False

    async def acquire(self) -> PrimaryLink:
        """An idle link if one is fresh, else a new one; raises OSError or TimeoutError
        when the primary cannot be reached."""
        while self._idle:
            link = self._idle.pop()
            if link.fresh():
                return link
            link.close()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            with anyio.fail_after(CONNECT_TIMEOUT_S):
                await asyncio.get_running_loop().sock_connect(sock, self.socket_path)
        except BaseException:
            sock.close()
            raise
        return PrimaryLink(_Wire(sock))

    def release(self, link: PrimaryLink, keep: bool) -> None:
        """Back to the idle links if `keep` and the exchange left it reusable."""
        while self._idle and not self._idle[0].fresh():
            self._idle.pop(0).close()  # the longest idle: closed by now, or soon
        if keep and not self._closed and len(self._idle) < self.max_idle and link.reusable():
            self._idle.append(link)
            return
        link.close()

    def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for link in idle:
            link.close()
