"""The hand-off channel: the primary passes accepted TCP connections to a secondary.

One `socket.socketpair` (UNIX, stream) per secondary process, made by the primary
before it starts the process (the secondary's end is inherited as an fd number on
its command line, and the channel is never a path anyone else could connect to).
Each message is one byte:

    primary -> secondary   CONNECTION, with the accepted socket's fd (SCM_RIGHTS)
    secondary -> primary   READY once it serves (its uvicorn has started),
                           then CLOSED for each handed connection that closed

so the primary knows every secondary's open connections without asking (what it
handed, less what was reported closed; `balance.py`), and the end of the
channel is the end of the process: the kernel closes a dead secondary's end, and
the primary's send fails or its read sees EOF.

Bounded both ways. The primary never blocks on a send: the channel is
non-blocking, and a hand-off the kernel's buffer cannot take (the secondary is
not reading) is served by the primary instead. The secondary receives at most
`RECEIVES_PER_WAKEUP` connections per wake-up of its loop, and keeps the
reports the primary does not read yet (a byte per closed connection at most).

A received fd is opened close-on-exec (MSG_CMSG_CLOEXEC: `socket.recv_fds`
leaves it inheritable, and a sandbox started meanwhile must never get a
client's connection).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import errno
import logging
import os
import socket
from collections.abc import Callable

from lambdad.workers.serving import Serve

log = logging.getLogger(__name__)

CONNECTION, READY, CLOSED = b"F", b"R", b"C"
RECEIVES_PER_WAKEUP = 64
"""Connections a secondary takes per turn of its loop (a burst waits its next turn)."""
MAX_FDS = 4
"""Fds a receive takes (one is sent per byte: more would be a bug, closed here)."""
CHANNEL_BUFFER = 256 * 1024
"""Each direction's kernel buffer: a few hundred hand-offs in flight at most."""
BROKEN = {errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.EBADF}
"""A send that failed with one of these: the secondary is gone."""


def channel_pair() -> tuple[socket.socket, socket.socket]:
    """(the primary's end, the secondary's end), both close-on-exec: the
    secondary's end is passed to its process only (`pass_fds`)."""
    primary, secondary = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    for end in (primary, secondary):
        end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, CHANNEL_BUFFER)
    primary.setblocking(False)
    return primary, secondary


def send_connection(channel: socket.socket, connection: socket.socket) -> None:
    """Pass `connection` over `channel` (the caller closes its copy after). Raises
    BlockingIOError when the channel is full, OSError (errno in BROKEN) when the
    secondary is gone."""
    socket.send_fds(channel, [CONNECTION], [connection.fileno()], socket.MSG_NOSIGNAL)


def receive(channel: socket.socket) -> tuple[bytes, list[int]]:
    """One byte from `channel` and the fds that came with it (close-on-exec).
    b"" is the end of the channel; raises BlockingIOError when there is nothing."""
    data, ancillary, _flags, _addr = channel.recvmsg(
        1, socket.CMSG_SPACE(MAX_FDS * 4), socket.MSG_CMSG_CLOEXEC
    )
    fds = array.array("i")
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    return data, list(fds)


class HandOffReceiver:
    """A secondary's `Front`: the connections the primary hands it over `channel`.

    Says READY when started, serves each connection it receives, reports each one's
    close. The channel's end (the primary is gone, or gave up on this process) calls
    `on_channel_end`: a secondary nobody hands connections to ends.
    """

    def __init__(self, channel: socket.socket, on_channel_end: Callable[[], None]) -> None:
        channel.set_inheritable(False)
        channel.setblocking(False)
        self.channel = channel
        self.on_channel_end = on_channel_end
        self.received = 0
        self._serve: Serve | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unsent = b""
        self._ended = False

    def start(self, serve: Serve) -> None:
        self._serve = serve
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.channel.fileno(), self._on_readable)
        self._send(READY)

    def stop(self) -> None:
        """Receive nothing more; the channel closes (connections still in it are
        closed by the kernel: the primary's copies are gone)."""
        if self._ended:
            return
        self._ended = True
        if self._loop is not None:
            self._loop.remove_reader(self.channel.fileno())
            self._loop.remove_writer(self.channel.fileno())
        self.channel.close()

    def _on_readable(self) -> None:
        assert self._serve is not None
        for _ in range(RECEIVES_PER_WAKEUP):
            try:
                data, fds = receive(self.channel)
            except BlockingIOError:
                return
            except OSError as exc:
                log.warning("hand-off channel: %s", exc)
                data, fds = b"", []
            if not data:
                self._end()
                return
            for fd in fds:
                self._serve_fd(fd)

    def _serve_fd(self, fd: int) -> None:
        assert self._serve is not None
        try:
            connection = socket.socket(fileno=fd)
        except OSError:  # not a socket: never from our primary
            os.close(fd)
            return
        self.received += 1
        self._serve(connection, self._closed)

    def _closed(self) -> None:
        self._send(CLOSED)

    def _send(self, message: bytes) -> None:
        """Send `message` after what is still unsent (the primary busy: its buffer
        full); what the kernel does not take now goes when the channel is writable."""
        if self._ended:
            return
        self._unsent += message
        self._flush()

    def _flush(self) -> None:
        assert self._loop is not None
        try:
            sent = self.channel.send(self._unsent, socket.MSG_NOSIGNAL)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._end()
            return
        self._unsent = self._unsent[sent:]
        if self._unsent:
            self._loop.add_writer(self.channel.fileno(), self._flush)
        else:
            self._loop.remove_writer(self.channel.fileno())

    def _end(self) -> None:
        if self._ended:
            return
        log.warning("hand-off channel closed: the primary is gone")
        self.stop()
        with contextlib.suppress(Exception):
            self.on_channel_end()
