"""A secondary's side of the hand-off: a real uvicorn `FrontedServer` with a
`HandOffReceiver`, the test playing the primary over a real channel. A handed
connection is served as uvicorn's own (keep-alive, its close reported), and the
graceful stop finishes the request in flight on it, then closes it."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import anyio
import pytest
import uvicorn
from starlette.types import Receive, Scope, Send

from lambdad.workers.handoff import CLOSED, READY, HandOffReceiver, channel_pair, send_connection
from lambdad.workers.serving import FrontedServer
from support.waiting import wait_until_async

pytestmark = pytest.mark.anyio

REQUEST = b"GET /%s HTTP/1.1\r\nHost: test\r\n\r\n"


class App:
    """Answers "hello"; /slow answers once `release` is set."""

    def __init__(self) -> None:
        self.release = anyio.Event()
        self.slow_started = anyio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        if scope["path"] == "/slow":
            self.slow_started.set()
            await self.release.wait()
        headers = [(b"content-length", b"5")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"hello"})


@dataclass
class Secondary:
    server: FrontedServer
    channel: socket.socket
    """The primary's end."""
    listener: socket.socket
    app: App
    ended: list[bool]

    def hand(self) -> socket.socket:
        """A client connected to the listener, whose accepted end is handed over."""
        client = socket.create_connection(self.listener.getsockname(), timeout=10)
        accepted, _ = self.listener.accept()
        send_connection(self.channel, accepted)
        accepted.close()
        return client

    def channel_ended(self) -> bool:
        try:
            return self.channel.recv(64) == b""
        except BlockingIOError:
            return False

    async def reports(self) -> bytes:
        got = b""

        def read() -> bytes:
            nonlocal got
            try:
                got += self.channel.recv(64)
            except BlockingIOError:
                pass
            return got

        await wait_until_async(read, "a report", 10)
        return got


@asynccontextmanager
async def secondary() -> AsyncIterator[Secondary]:
    ours, theirs = channel_pair()
    app = App()
    config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False)
    ended: list[bool] = []
    server = FrontedServer(config, HandOffReceiver(theirs, lambda: ended.append(True)))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        async with anyio.create_task_group() as group:
            group.start_soon(server.serve, [])
            found = Secondary(server, ours, listener, app, ended)
            assert await found.reports() == READY
            try:
                yield found
            finally:
                server.should_exit = True
                app.release.set()
    ours.close()


def response(client: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"hello"):
        chunk = client.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


async def test_a_handed_connection_is_served_kept_alive_and_its_close_reported() -> None:
    async with secondary() as s:
        client = s.hand()
        for _ in range(2):  # one connection, two requests
            client.sendall(REQUEST % b"")
            answer = await anyio.to_thread.run_sync(response, client)
            assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"hello")
        client.close()
        assert await s.reports() == CLOSED


async def test_the_graceful_stop_ends_the_request_in_flight_then_closes_the_connection() -> None:
    async with secondary() as s:
        client = s.hand()
        client.sendall(REQUEST % b"slow")
        await s.app.slow_started.wait()
        s.server.should_exit = True
        await wait_until_async(s.channel_ended, "the channel's end", 10)
        s.app.release.set()
        answer = await anyio.to_thread.run_sync(response, client)
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"hello")
        assert await anyio.to_thread.run_sync(client.recv, 1) == b""  # then closed
        client.close()


async def test_the_end_of_the_channel_ends_the_secondary() -> None:
    async with secondary() as s:
        s.channel.close()  # the primary is gone
        await wait_until_async(lambda: s.ended, "on_channel_end", 10)
