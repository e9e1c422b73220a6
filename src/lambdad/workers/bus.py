"""The change bus: the primary tells every secondary what its catalog listeners hear.

In one process, a change to a function (its code, config, aliases, versions) or
its concurrency settings reaches the in-process listeners before the API call
that made it returns: the invoker's version cache, the pool's retirement of old
environments, the limiter's unreserved pool. With secondaries, the primary's
`ChangeBus` is one more such listener: it sends the event to every connected
secondary and waits for each one's ack, which the secondary sends once its own
listeners have run (`BusClient`). So a client that wrote through the primary and
then invokes through any process gets the new code and configuration.

A secondary that does not ack within `ack_timeout_s` is stuck: `on_stuck` (the
supervisor) kills it, and it is started again with empty caches. A secondary
connects before it reads anything from the catalog, so one that is starting
misses no change that its first reads would not see.

The same connection carries the primary's questions (`ask`): the role session
of an access key a secondary minted (`sessions.py`); the ack carries the answer.
And its requests to flush: before the primary reads log events, every secondary
stores what its log writer holds (`flush_logs`), so `lambdad logs` right after an
invoke a secondary ran shows it, as with one process (and its recorder's metrics,
before a CloudWatch query). And a scrape's question: each secondary's Prometheus
numbers (`metrics.py`).

Frames are JSON lines on a UNIX socket (one per secondary):

    secondary -> primary   {"hello": WORKER, "pid": PID}, then {"ack": ID, "answer": ...}
    primary -> secondary   {"id": ID, "kind": "function" | "concurrency", "name": NAME}
                           {"id": ID, "kind": "version", "arn": ARN, "version": V | null}
                           {"id": ID, "kind": "session", "key": ACCESS_KEY_ID}
                           {"id": ID, "kind": "flush", "what": "logs" | "metrics"}
                           {"id": ID, "kind": "metrics"}  (`metrics.py`)
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
from anyio.abc import SocketStream, TaskStatus
from anyio.streams.buffered import BufferedByteReceiveStream

log = logging.getLogger(__name__)

ACK_TIMEOUT_S = 10.0
MAX_FRAME = 64 * 1024  # a function name or ARN and a version: far below
MAX_ANSWER = 16 * 1024 * 1024
"""An ack with its answer (a scrape of a secondary's metrics: ~200 bytes a series)."""
ENDED = (
    anyio.EndOfStream,
    anyio.IncompleteRead,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.DelimiterNotFound,
    ValueError,  # not JSON
)

Event = dict[str, Any]
Apply = Callable[[Event], Awaitable[Any]]
"""Runs an event's listeners (or answers a question): the ack's answer."""


def _frame(message: Event) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


async def _read(reader: BufferedByteReceiveStream, max_bytes: int = MAX_FRAME) -> Event:
    message = json.loads(await reader.receive_until(b"\n", max_bytes))
    if not isinstance(message, dict):
        raise ValueError("not a JSON object")
    return message


@dataclass
class _Link:
    worker: int
    pid: int
    stream: SocketStream
    acks: dict[int, tuple[anyio.Event, list[Any]]] = field(default_factory=dict)
    """Per message id: set when acked, and the answer."""
    lock: anyio.Lock = field(default_factory=anyio.Lock)


class ChangeBus:
    """The primary's side: a listener for every catalog and concurrency change."""

    def __init__(
        self,
        socket_path: str,
        on_stuck: Callable[[int, int], None],
        ack_timeout_s: float = ACK_TIMEOUT_S,
    ) -> None:
        """`on_stuck(worker, pid)`: a secondary did not ack in time (kill it)."""
        self.socket_path = socket_path
        self.on_stuck = on_stuck
        self.ack_timeout_s = ack_timeout_s
        self._links: dict[int, _Link] = {}
        self._ids = itertools.count(1)

    def connected(self) -> dict[int, int]:
        """The connected secondaries: worker -> pid."""
        return {w: link.pid for w, link in self._links.items()}

    async def serve(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        listener = await anyio.create_unix_listener(self.socket_path)
        task_status.started()
        async with listener:
            await listener.serve(self._serve_one)

    async def _serve_one(self, stream: SocketStream) -> None:
        reader = BufferedByteReceiveStream(stream)
        link = None
        try:
            hello = await _read(reader)
            link = _Link(int(hello["hello"]), int(hello["pid"]), stream)
            self._links[link.worker] = link
            while True:
                message = await _read(reader, MAX_ANSWER)
                ack = link.acks.pop(int(message["ack"]), None)
                if ack is not None:
                    ack[1].append(message.get("answer"))
                    ack[0].set()
        except (*ENDED, KeyError, TypeError):
            pass
        finally:
            if link is not None and self._links.get(link.worker) is link:
                del self._links[link.worker]
            for acked, _ in link.acks.values() if link is not None else ():
                acked.set()  # a secondary gone has nothing left to be told
            await stream.aclose()

    # -- the listeners -------------------------------------------------------------

    async def function_changed(self, name: str) -> None:
        await self.publish({"kind": "function", "name": name})

    async def version_changed(self, function_arn: str, version: str | None) -> None:
        await self.publish({"kind": "version", "arn": function_arn, "version": version})

    async def concurrency_changed(self, name: str) -> None:
        await self.publish({"kind": "concurrency", "name": name})

    async def flush_logs(self) -> None:
        """Back once every secondary stored the log events its writer held."""
        await self.publish({"kind": "flush", "what": "logs"})

    async def flush_metrics(self) -> None:
        """Back once every secondary stored the metrics its recorder held."""
        await self.publish({"kind": "flush", "what": "metrics"})

    async def publish(self, event: Event) -> list[Any]:
        """Tell every connected secondary; back once each acked (or was given up on),
        with their answers (None from one that gave none)."""
        message = {"id": next(self._ids), **event}
        answers: list[Any] = []
        async with anyio.create_task_group() as group:
            for link in list(self._links.values()):
                group.start_soon(self._tell, link, message, answers)
        return answers

    async def _tell(self, link: _Link, message: Event, answers: list[Any]) -> None:
        acked = anyio.Event()
        answer: list[Any] = []
        link.acks[message["id"]] = (acked, answer)
        try:
            with anyio.move_on_after(self.ack_timeout_s):
                async with link.lock:
                    await link.stream.send(_frame(message))
                await acked.wait()
                answers += answer
                return
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            return  # gone: it restarts with empty caches
        finally:
            link.acks.pop(message["id"], None)
        log.error(
            "worker %d (pid %d) did not take a change in %.0f s: restarting it",
            link.worker,
            link.pid,
            self.ack_timeout_s,
        )
        self.on_stuck(link.worker, link.pid)


class BusClient:
    """A secondary's side: applies each change (its own listeners run), then acks."""

    def __init__(self, socket_path: str, worker: int, pid: int, apply: Apply) -> None:
        self.socket_path = socket_path
        self.worker = worker
        self.pid = pid
        self.apply = apply

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Connected and said hello: started. Returns when the primary is gone."""
        stream = await anyio.connect_unix(self.socket_path)
        async with stream:
            await stream.send(_frame({"hello": self.worker, "pid": self.pid}))
            task_status.started()
            reader = BufferedByteReceiveStream(stream)
            while True:
                try:
                    event = await _read(reader)
                except ENDED:
                    return
                answer = await self.apply(event)
                frame = _frame({"ack": event["id"], "answer": answer})
                if len(frame) > MAX_ANSWER:  # the primary would take it for a broken link
                    log.error("worker %d: an answer of %d bytes left out", self.worker, len(frame))
                    frame = _frame({"ack": event["id"], "answer": None})
                await stream.send(frame)
