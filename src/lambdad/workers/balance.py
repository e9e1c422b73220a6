"""The primary accepts every TCP connection and gives each to the least-loaded process.

With SO_REUSEPORT the kernel picked a process by a hash of each connection, so a
few keep-alive clients could all land on one process (4 connections, all on one
of 2: one process's throughput). Here only the primary listens on the port. For
each connection it accepts, `pick` chooses the process with the fewest open
connections (ties in turn, so a burst of 4 on 2 processes is 2 + 2, 16 is 8 + 8);
the primary serves its own share in-process, and hands every other connection to
its secondary over that secondary's hand-off channel (`handoff.py`), which
reports back when each one closes. A connection is handed once, when it is
accepted: it stays with its process for its whole life (its keep-alive requests
are never moved).

What can go wrong stays bounded and never loses a connection the primary still
holds:
- a secondary that is starting (no READY yet) or dead (its channel ended) gets
  nothing; a restarted one is a new peer with no connections, so it gets the next
  ones. The connections a dead secondary served are closed with it (its clients
  reconnect).
- a hand-off is one non-blocking send: a channel that is full (the secondary is
  not reading) or broken gives the connection to the primary instead. The primary
  closes its copy of every fd it handed, right after the send.
- the accept loop takes at most `ACCEPTS_PER_WAKEUP` connections per turn of the
  loop, and pauses for `PAUSE_S` when out of fds (as asyncio's own server does).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Mapping
from dataclasses import dataclass

from lambdad.workers.handoff import BROKEN, CLOSED, READY, send_connection
from lambdad.workers.serving import Serve

log = logging.getLogger(__name__)

PRIMARY = 0
"""The primary's number in `pick` (worker N is N)."""
ACCEPTS_PER_WAKEUP = 64
PAUSE_S = 1.0
"""How long accepting pauses when the process is out of fds or memory."""
_OUT_OF_RESOURCES = {errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM}


def pick(open_connections: Mapping[int, int], last: int) -> int:
    """The process a new connection goes to: of `open_connections` (process -> its
    open connections, live processes only, the primary always among them), one with
    the fewest; among several, the first after `last` (the previous pick) in process
    order, wrapping around, so ties are served in turn."""
    fewest = min(open_connections.values())
    tied = sorted(p for p, n in open_connections.items() if n == fewest)
    return next((p for p in tied if p > last), tied[0])


@dataclass
class _Peer:
    """A secondary as the balancer sees it."""

    worker: int
    channel: socket.socket
    loop: asyncio.AbstractEventLoop
    ready: bool = False
    open: int = 0
    """Connections handed to it and not yet reported closed."""
    full_warned: bool = False


class Balancer:
    """The primary's `Front` for the TCP port (see the module doc)."""

    def __init__(self, listener: socket.socket, backlog: int = 2048) -> None:
        """`listener`: bound, not yet listening (it listens from `start`)."""
        self.listener = listener
        self.backlog = backlog
        self.handed_off = 0
        self.served_here = 0
        self.channel_full = 0
        """Connections the primary served because their pick's channel was full."""
        self._peers: dict[int, _Peer] = {}
        self._own = 0
        self._last = PRIMARY
        self._serve: Serve | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._accepting = False

    # -- the secondaries ------------------------------------------------------------

    def add(self, worker: int, channel: socket.socket) -> None:
        """Worker `worker`'s channel (its process just started): connections go to it
        once it says READY. Called on the primary's loop."""
        self.remove(worker)
        channel.setblocking(False)
        loop = asyncio.get_running_loop()
        peer = self._peers[worker] = _Peer(worker, channel, loop)
        loop.add_reader(channel.fileno(), self._on_report, peer)

    def remove(self, worker: int) -> None:
        """Worker `worker` is gone: nothing more goes to it, its channel closes."""
        peer = self._peers.pop(worker, None)
        if peer is None:
            return
        if not peer.loop.is_closed():
            peer.loop.remove_reader(peer.channel.fileno())
        peer.channel.close()
        if peer.ready:
            log.info("worker %d: no more connections (it had %d open)", worker, peer.open)

    def ready(self) -> set[int]:
        """The secondaries that take connections."""
        return {w for w, p in self._peers.items() if p.ready}

    def open_connections(self) -> dict[int, int]:
        """Process -> its open connections, as `pick` sees them (the primary and the
        secondaries that take connections)."""
        counts = {PRIMARY: self._own}
        counts.update((w, p.open) for w, p in self._peers.items() if p.ready)
        return counts

    def _on_report(self, peer: _Peer) -> None:
        try:
            data = peer.channel.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # its end closed: the process is gone
            self.remove(peer.worker)
            return
        if not peer.ready and READY in data:
            peer.ready = True
            log.info("worker %d: takes connections", peer.worker)
        peer.open = max(0, peer.open - data.count(CLOSED))

    # -- the port -------------------------------------------------------------------

    def start(self, serve: Serve) -> None:
        """`Front.start`: listen, and accept on the running loop."""
        self._serve = serve
        self._loop = asyncio.get_running_loop()
        self.listener.setblocking(False)
        self.listener.listen(self.backlog)
        self._resume()

    def stop(self) -> None:
        """`Front.stop`: accept no more; the port closes."""
        self._pause()
        self._serve = None
        self.listener.close()

    def close(self) -> None:
        """Last: every channel too."""
        self.stop()
        for worker in list(self._peers):
            self.remove(worker)

    def _resume(self) -> None:
        if self._serve is not None and not self._accepting and self._loop is not None:
            self._loop.add_reader(self.listener.fileno(), self._on_acceptable)
            self._accepting = True

    def _pause(self) -> None:
        if self._accepting and self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self.listener.fileno())
            self._accepting = False

    def _on_acceptable(self) -> None:
        for _ in range(ACCEPTS_PER_WAKEUP):
            try:
                connection, _address = self.listener.accept()
            except BlockingIOError:
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_RESOURCES:
                    log.error("accepting paused for %gs: %s", PAUSE_S, exc)
                    self._pause()
                    assert self._loop is not None
                    self._loop.call_later(PAUSE_S, self._resume)
                    return
                continue  # that connection was aborted by its client
            self._dispatch(connection)

    def _dispatch(self, connection: socket.socket) -> None:
        worker = self._last = pick(self.open_connections(), self._last)
        if worker != PRIMARY and self._hand_off(self._peers[worker], connection):
            return
        assert self._serve is not None
        self._own += 1
        self.served_here += 1
        self._serve(connection, self._own_closed)

    def _hand_off(self, peer: _Peer, connection: socket.socket) -> bool:
        """Whether `connection` went to `peer` (then the primary's copy is closed)."""
        try:
            send_connection(peer.channel, connection)
        except BlockingIOError:
            self.channel_full += 1
            if not peer.full_warned:
                peer.full_warned = True
                log.warning("worker %d: its hand-off channel is full: served here", peer.worker)
            return False
        except OSError as exc:
            if exc.errno in BROKEN:
                log.warning("worker %d: its hand-off channel ended (%s)", peer.worker, exc)
                self.remove(peer.worker)
            else:  # the kernel's limit of fds in flight: not the secondary's fault
                log.warning("worker %d: hand-off failed: %s", peer.worker, exc)
            return False
        connection.close()
        peer.open += 1
        self.handed_off += 1
        return True

    def _own_closed(self) -> None:
        self._own = max(0, self._own - 1)
