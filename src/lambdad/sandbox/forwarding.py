"""Relays TCP connections from inside a sandbox to a few fixed addresses on the host.

Why this shape: a sandbox in mode `none` has a network namespace of its own
with only a loopback. Its launcher (`launcher.py`) makes that namespace, binds
a listening socket on 127.0.0.1 there for each `Forward` and hands the sockets
to the server before any sandbox code runs. The server accepts on them and
connects to the forward's one target: nothing runs inside the sandbox for it
(no forwarder the function could tamper with, no socket file to mount), and
what a function reaches through a port is decided here, never by what it sends.

Everything from inside is hostile: each sandbox holds at most
`max_connections` relayed connections at once (more are closed at accept), a
connection idle in both directions for `idle_timeout_s` is closed, bytes move
through bounded reads, and a target that does not answer within
`connect_timeout_s` closes the connection.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterable

import anyio
from anyio.abc import SocketListener, SocketStream, TaskGroup, TaskStatus

from lambdad.sandbox.base import Forward, SandboxError

log = logging.getLogger(__name__)

CHUNK = 65536


class ForwardHandle:
    """One sandbox's relays: `close()` stops accepting and drops its connections."""

    def __init__(self, sandbox_id: str, listeners: list[socket.socket]) -> None:
        self.sandbox_id = sandbox_id
        self.scope = anyio.CancelScope()
        self._listeners = listeners

    def close(self) -> None:
        """Idempotent; call on the event loop. The relays end at their next step and
        close their sockets themselves (never under a task that waits on one)."""
        self.scope.cancel()

    def close_listeners(self) -> None:
        for sock in self._listeners:
            sock.close()


class PortForwarder:
    """Runs every sandbox's relays in one task group (`run()`, for the server's lifetime)."""

    def __init__(
        self,
        *,
        max_connections: int = 64,
        idle_timeout_s: float = 300.0,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self.max_connections = max_connections
        self.idle_timeout_s = idle_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._group: TaskGroup | None = None

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with anyio.create_task_group() as group:
            self._group = group
            task_status.started()
            try:
                await anyio.sleep_forever()
            finally:
                self._group = None

    @property
    def running(self) -> bool:
        return self._group is not None

    def open(
        self, sandbox_id: str, pairs: Iterable[tuple[socket.socket, Forward]]
    ) -> ForwardHandle:
        """Start relaying from each listening socket to its forward's target."""
        pairs = list(pairs)
        handle = ForwardHandle(sandbox_id, [sock for sock, _ in pairs])
        if self._group is None:
            handle.close_listeners()
            raise SandboxError("the port forwarder is not running")
        self._group.start_soon(self._serve, handle, pairs)
        return handle

    async def _serve(
        self, handle: ForwardHandle, pairs: list[tuple[socket.socket, Forward]]
    ) -> None:
        slots = anyio.Semaphore(self.max_connections)
        try:
            with handle.scope:
                async with anyio.create_task_group() as group:
                    for sock, forward in pairs:
                        listener = await SocketListener.from_socket(sock)
                        group.start_soon(self._accept, handle, listener, forward, slots, group)
        except Exception:
            # One sandbox's relays failing (e.g. its sockets closed before they were
            # served) ends that sandbox's forwards, never the forwarder every sandbox uses.
            log.exception("sandbox %s: port forwarding failed", handle.sandbox_id)
        finally:
            handle.close_listeners()

    async def _accept(
        self,
        handle: ForwardHandle,
        listener: SocketListener,
        forward: Forward,
        slots: anyio.Semaphore,
        group: TaskGroup,
    ) -> None:
        async with listener:
            while True:
                try:
                    inside = await listener.accept()
                except (OSError, anyio.ClosedResourceError, anyio.BrokenResourceError):
                    return  # closed by ForwardHandle.close
                if slots.value == 0:
                    log.warning(
                        "sandbox %s: more than %d relayed connections; closing one to %s:%d",
                        handle.sandbox_id,
                        self.max_connections,
                        forward.host,
                        forward.target_port,
                    )
                    await inside.aclose()
                    continue
                slots.acquire_nowait()
                group.start_soon(self._relay, inside, forward, slots)

    async def _relay(self, inside: SocketStream, forward: Forward, slots: anyio.Semaphore) -> None:
        try:
            async with inside:
                try:
                    with anyio.fail_after(self.connect_timeout_s):
                        target = await anyio.connect_tcp(forward.host, forward.target_port)
                except (OSError, TimeoutError) as e:
                    log.info("forward to %s:%d: %s", forward.host, forward.target_port, e)
                    return
                async with target:
                    await self._pump_both(inside, target)
        finally:
            slots.release()

    async def _pump_both(self, a: SocketStream, b: SocketStream) -> None:
        last = [time.monotonic()]
        async with anyio.create_task_group() as group:
            group.start_soon(self._pump, a, b, last, group)
            group.start_soon(self._pump, b, a, last, group)

    async def _pump(
        self, src: SocketStream, dst: SocketStream, last: list[float], group: TaskGroup
    ) -> None:
        """Copy src to dst until EOF (then half-close dst); an error or idleness ends both."""
        try:
            while True:
                with anyio.move_on_after(self.idle_timeout_s) as waited:
                    data = await src.receive(CHUNK)
                if waited.cancelled_caught:
                    if time.monotonic() - last[0] >= self.idle_timeout_s:
                        group.cancel_scope.cancel()
                        return
                    continue  # the other direction is busy
                last[0] = time.monotonic()
                await dst.send(data)
        except anyio.EndOfStream:
            try:
                await dst.send_eof()
            except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
                group.cancel_scope.cancel()
        except (OSError, anyio.BrokenResourceError, anyio.ClosedResourceError):
            group.cancel_scope.cancel()
