"""The forwarder against a fake primary on a real UNIX socket: an answer sent before
the body is read reaches the client at once (and closes its connection when the
primary's does); bodies and responses stream both ways at once; a client that goes
away ends the forwarded request; links are kept only when clean."""

from __future__ import annotations

import contextlib
import socket
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import h11
import pytest
from anyio.abc import SocketAttribute, SocketStream
from starlette.types import Message

from lambdad.workers import primary_link
from lambdad.workers.forward import CLIENT_HEADER, WORKER_HEADER, Forwarder
from support.waiting import wait_until_async

pytestmark = pytest.mark.anyio


@pytest.fixture(params=[{}, {"use_uvloop": True}], ids=["asyncio", "uvloop"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, bool]]:
    """Both loops: the server runs on uvloop (its transports differ from asyncio's)."""
    return "asyncio", request.param


DEADLINE_S = 10.0  # far above any of these exchanges: a forwarder that waits fails here
DONE = {"type": "http.response.body", "body": b"", "more_body": False}


class Side:
    """The fake primary's side of one connection (h11 as a server)."""

    def __init__(self, stream: SocketStream) -> None:
        self.stream = stream
        self.h11 = h11.Connection(h11.SERVER)

    async def event(self) -> Any:
        while True:
            event = self.h11.next_event()
            if event is not h11.NEED_DATA:
                return event
            try:
                self.h11.receive_data(await self.stream.receive())
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                self.h11.receive_data(b"")

    async def request(self) -> h11.Request | None:
        """The next request; None once the link closed."""
        event = await self.event()
        if isinstance(event, h11.ConnectionClosed):
            return None
        assert isinstance(event, h11.Request), event
        return event

    async def body(self) -> bytes:
        data = b""
        while isinstance(event := await self.event(), h11.Data):
            data += event.data
        assert isinstance(event, h11.EndOfMessage), event
        return data

    async def send(self, *events: Any) -> None:
        for event in events:
            data = self.h11.send(event)
            if data:
                await self.stream.send(data)

    async def answer(self, status: int, body: bytes, close: bool = False) -> None:
        headers = [(b"content-length", str(len(body)).encode()), (b"x-amzn-errortype", b"E")]
        if close:
            headers.append((b"connection", b"close"))
        response = h11.Response(status_code=status, headers=headers)
        await self.send(response, h11.Data(data=body), h11.EndOfMessage())


@dataclass
class Primary:
    socket_path: str
    connections: int = 0
    open: int = 0


@asynccontextmanager
async def primary(handler: Callable[[Side], Awaitable[None]]) -> AsyncIterator[Primary]:
    """A fake primary running `handler` on each connection (it returns to close it).
    At the end it waits for every handler to return (the forwarder closed its links):
    a read cancelled as its socket turns readable upsets anyio's UNIX streams."""
    with tempfile.TemporaryDirectory(prefix="lambdad-fwd-") as run_dir:
        fake = Primary(str(Path(run_dir) / "forward.sock"))
        listener = await anyio.create_unix_listener(fake.socket_path)

        async def serve_one(stream: SocketStream) -> None:
            fake.connections += 1
            fake.open += 1
            try:
                async with stream:
                    await handler(Side(stream))
            finally:
                fake.open -= 1

        async with anyio.create_task_group() as group:
            group.start_soon(listener.serve, serve_one)
            yield fake
            await wait_until_async(lambda: fake.open == 0, "the links closed", DEADLINE_S)
            group.cancel_scope.cancel()


class Client:
    """The ASGI side of a client's connection: `steps` are the messages it gives, or
    events to wait for before the next; past them it waits until `gone` is set."""

    def __init__(self, *steps: Message | anyio.Event) -> None:
        self.steps = list(steps)
        self.sent: list[Message] = []
        self.answered = anyio.Event()
        """Set when a first body chunk of the response was sent to it."""
        self.gone = anyio.Event()

    async def receive(self) -> Message:
        while self.steps:
            step = self.steps.pop(0)
            if not isinstance(step, anyio.Event):
                return step
            await step.wait()
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)
        if message.get("body"):
            self.answered.set()

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        return list(self.sent[0]["headers"])

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent[1:])


def chunk(data: bytes, more: bool = True) -> Message:
    return {"type": "http.request", "body": data, "more_body": more}


def http(method: str = "POST", headers: list[tuple[bytes, bytes]] | None = None) -> Any:
    return {
        "type": "http",
        "method": method,
        "path": "/2015-03-31/functions",
        "raw_path": b"/2015-03-31/functions",
        "query_string": b"q=1",
        "headers": [(b"host", b"127.0.0.1:9000"), *(headers or [])],
        "client": ("10.1.2.3", 5555),
    }


async def forward(forwarder: Forwarder, client: Client, scope: Any) -> None:
    with anyio.fail_after(DEADLINE_S):
        await forwarder(scope, client.receive, client.send)


@asynccontextmanager
async def forwarder_to(fake: Primary, worker: int = 1) -> AsyncIterator[Forwarder]:
    forwarder = Forwarder(fake.socket_path, worker)
    try:
        yield forwarder
    finally:
        await forwarder.aclose()


async def refuse(side: Side) -> None:
    """As the primary's BodyGuard: answered and closed, not one byte of the body read."""
    await side.request()
    await side.answer(413, b'{"message": "too large"}', close=True)


async def test_an_answer_before_the_body_reaches_the_client_at_once_and_closes_it() -> None:
    async with primary(refuse) as fake, forwarder_to(fake) as forwarder:
        client = Client(chunk(b"x" * 65536))  # then nothing more, as a client that lied
        await forward(forwarder, client, http(headers=[(b"content-length", b"7000000000")]))
    assert client.status == 413
    assert (b"connection", b"close") in client.headers  # so the rest is never read
    assert (b"x-amzn-errortype", b"E") in client.headers
    assert client.body == b'{"message": "too large"}' and client.sent[-1] == DONE


async def test_a_declared_length_with_no_body_sent_gets_the_answer_at_once() -> None:
    async with primary(refuse) as fake, forwarder_to(fake) as forwarder:
        client = Client()  # declares 7 GB and sends nothing
        await forward(forwarder, client, http(headers=[(b"content-length", b"7000000000")]))
    assert client.status == 413 and client.sent[-1] == DONE
    assert (b"connection", b"close") in client.headers


async def test_the_answer_is_read_though_sending_failed_after_the_primary_closed() -> None:
    """The primary answered and closed while the body was still coming: the next write
    fails (EPIPE) before the answer is read, and the answer is still the client's."""
    closed = anyio.Event()

    async def refuse_and_close(side: Side) -> None:
        await side.request()
        response = h11.Response(status_code=413, headers=[(b"content-length", b"2")])
        head = side.h11.send(response) or b""
        # Sent, closed and told in one go: the forwarder's next write comes before its
        # loop has looked at the socket again.
        raw: socket.socket = side.stream.extra(SocketAttribute.raw_socket)
        raw.sendall(head + b"{}")
        raw.close()
        closed.set()

    async with primary(refuse_and_close) as fake, forwarder_to(fake) as forwarder:
        client = Client(chunk(b"x" * 1000), closed, chunk(b"y" * 1000))
        await forward(forwarder, client, http(headers=[(b"content-length", b"7000000000")]))
    assert client.status == 413 and client.sent[-1] == DONE


async def test_an_early_answer_that_keeps_its_connection_keeps_the_clients() -> None:
    async def not_found(side: Side) -> None:  # a GET answered, its body never read
        await side.request()
        await side.answer(404, b"{}")
        with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError):
            while True:  # the rest of the body, until the link closes
                await side.stream.receive()

    async with primary(not_found) as fake, forwarder_to(fake) as forwarder:
        for _ in range(2):
            client = Client(chunk(b"x" * 1000))
            await forward(forwarder, client, http("GET", [(b"transfer-encoding", b"chunked")]))
            assert client.status == 404 and client.sent[-1] == DONE
            assert (b"connection", b"close") not in client.headers
    assert fake.connections == 2  # a link whose request was not all sent is not used again


async def test_body_and_response_stream_both_ways_at_once_and_the_link_is_kept() -> None:
    seen: list[h11.Request] = []

    async def echo(side: Side) -> None:
        while (request := await side.request()) is not None:
            seen.append(request)
            first = await side.event()  # the first chunk: the answer starts
            head = h11.Response(status_code=200, headers=[(b"transfer-encoding", b"chunked")])
            await side.send(head, h11.Data(data=b"got " + first.data))
            rest = await side.body()  # sent only once the client saw the answer's start
            await side.send(h11.Data(data=b", then " + rest), h11.EndOfMessage())
            side.h11.start_next_cycle()

    headers = [(b"transfer-encoding", b"chunked"), (b"connection", b"keep-alive")]
    headers.append((CLIENT_HEADER, b"6.6.6.6:1"))  # a client's claim: replaced
    async with primary(echo) as fake, forwarder_to(fake, worker=7) as forwarder:
        for n in range(2):
            client = Client(chunk(b"first"))
            client.steps += [client.answered, chunk(b"second", more=False)]
            await forward(forwarder, client, http(headers=headers))
            assert client.status == 200 and client.sent[-1] == DONE
            assert client.body == b"got first, then second", n
    assert fake.connections == 1  # kept alive between the two
    assert seen[0].method == b"POST" and seen[0].target == b"/2015-03-31/functions?q=1"
    assert (b"transfer-encoding", b"chunked") in seen[0].headers
    assert (b"connection", b"keep-alive") not in seen[0].headers
    assert [v for k, v in seen[0].headers if k == CLIENT_HEADER] == [b"10.1.2.3:5555"]
    assert [v for k, v in seen[0].headers if k == WORKER_HEADER] == [b"7"]


async def test_a_client_that_goes_away_ends_the_forwarded_request() -> None:
    ended = anyio.Event()

    async def slow(side: Side) -> None:  # an invocation that takes its time
        await side.request()
        await side.body()
        if isinstance(await side.event(), h11.ConnectionClosed):
            ended.set()  # the primary saw its client go, as it would have the client

    async with primary(slow) as fake, forwarder_to(fake) as forwarder:
        client = Client(chunk(b"{}", more=False))
        async with anyio.create_task_group() as group:
            group.start_soon(forward, forwarder, client, http(headers=[(b"content-length", b"2")]))
            client.gone.set()
            with anyio.fail_after(DEADLINE_S):
                await ended.wait()
    assert client.sent == []  # nobody to answer


async def test_a_client_that_goes_away_mid_body_ends_the_forwarded_request() -> None:
    ended = anyio.Event()

    async def reading(side: Side) -> None:
        await side.request()
        with pytest.raises(h11.RemoteProtocolError, match="without sending complete message"):
            await side.body()
        ended.set()  # the body ended short: the link closed

    async with primary(reading) as fake, forwarder_to(fake) as forwarder:
        client = Client(chunk(b"x" * 1000), {"type": "http.disconnect"})
        await forward(forwarder, client, http(headers=[(b"content-length", b"5000")]))
        with anyio.fail_after(DEADLINE_S):
            await ended.wait()
    assert client.sent == []


async def test_a_primary_out_of_reach_is_a_service_exception() -> None:
    with tempfile.TemporaryDirectory(prefix="lambdad-fwd-") as run_dir:
        forwarder = Forwarder(str(Path(run_dir) / "forward.sock"), 1)
        client = Client(chunk(b"", more=False))
        await forward(forwarder, client, http())
        await forwarder.aclose()
    assert client.status == 500
    assert (b"x-amzn-errortype", b"ServiceException") in client.headers


async def test_a_response_cut_short_is_not_completed() -> None:
    async def dying(side: Side) -> None:
        await side.request()
        await side.body()
        head = h11.Response(status_code=200, headers=[(b"content-length", b"100")])
        await side.send(head, h11.Data(data=b"0123456789"))  # then the process dies

    async with primary(dying) as fake, forwarder_to(fake) as forwarder:
        client = Client(chunk(b"{}", more=False))
        await forward(forwarder, client, http(headers=[(b"content-length", b"2")]))
    assert client.status == 200 and client.body == b"0123456789"
    assert DONE not in client.sent  # the server ends the client's connection mid-response


async def test_a_link_the_primary_closed_while_idle_is_not_used_again() -> None:
    async def one_request(side: Side) -> None:  # then the primary's keep-alive ran out
        await side.request()
        await side.body()
        await side.answer(200, b"{}")

    async with primary(one_request) as fake, forwarder_to(fake) as forwarder:
        for _ in range(2):
            await wait_until_async(lambda: fake.open == 0, "the idle link closed", DEADLINE_S)
            client = Client(chunk(b"", more=False))
            await forward(forwarder, client, http())
            assert client.status == 200 and client.sent[-1] == DONE
    assert fake.connections == 2


async def test_a_link_idle_too_long_is_not_used_again(monkeypatch: pytest.MonkeyPatch) -> None:
    async def keep_alive(side: Side) -> None:
        while await side.request() is not None:
            await side.body()
            await side.answer(200, b"{}")
            side.h11.start_next_cycle()

    async with primary(keep_alive) as fake, forwarder_to(fake) as forwarder:
        for _ in range(2):
            monkeypatch.setattr(primary_link, "IDLE_MAX_S", -1.0)  # any idle link: too old
            client = Client(chunk(b"", more=False))
            await forward(forwarder, client, http())
            assert client.status == 200
    assert fake.connections == 2
