"""A response's head and body leave in one write; nothing is reordered, delayed past
the loop's pass, or lost when the connection closes or changes protocol."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import uvicorn
from starlette.types import Receive, Scope, Send
from uvicorn.server import ServerState

from lambdad.api.http_protocol import CoalescingHttpToolsProtocol, HeadHoldingTransport

pytestmark = pytest.mark.anyio

REQUEST = b"GET / HTTP/1.1\r\nHost: example\r\n\r\n"


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.events: list[str] = []

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))
        self.events.append("write")

    def close(self) -> None:
        self.closed = True
        self.events.append("close")

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def pause_reading(self) -> None:
        self.events.append("pause")

    def resume_reading(self) -> None:
        self.events.append("resume")

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.events.append("set_protocol")

    def write_eof(self) -> None:
        self.events.append("write_eof")

    def get_write_buffer_size(self) -> int:
        return 7


async def next_pass() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


async def test_head_and_body_in_one_write() -> None:
    real = RecordingTransport()
    holding = HeadHoldingTransport(real, asyncio.get_running_loop())
    holding.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    assert real.writes == []
    holding.write(b"{}")
    assert real.writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    await next_pass()  # the pass's flush has nothing left to write
    assert len(real.writes) == 1


async def test_a_head_alone_leaves_on_the_next_pass() -> None:
    real = RecordingTransport()
    holding = HeadHoldingTransport(real, asyncio.get_running_loop())
    holding.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
    await next_pass()
    assert real.writes == [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"]
    holding.write(b"5\r\nhello\r\n")  # the rest of a streamed body: at once
    assert real.writes[-1] == b"5\r\nhello\r\n"


async def test_close_and_protocol_change_write_the_held_head_first() -> None:
    for end in ("close", "set_protocol", "write_eof"):
        real = RecordingTransport()
        holding = HeadHoldingTransport(real, asyncio.get_running_loop())
        holding.write(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
        if end == "set_protocol":
            holding.set_protocol(asyncio.Protocol())
        else:
            getattr(holding, end)()
        assert real.events == ["write", end]
        await next_pass()
        assert real.writes == [b"HTTP/1.1 101 Switching Protocols\r\n\r\n"]


async def test_a_closed_connection_gets_no_late_write() -> None:
    real = RecordingTransport()
    holding = HeadHoldingTransport(real, asyncio.get_running_loop())
    holding.write(b"HTTP/1.1 200 OK\r\n\r\n")
    real.closed = True  # the peer went away before the pass ended
    await next_pass()
    assert real.writes == []


async def test_other_calls_reach_the_transport() -> None:
    real = RecordingTransport()
    holding = HeadHoldingTransport(real, asyncio.get_running_loop())
    holding.pause_reading()
    holding.resume_reading()
    assert holding.get_extra_info("peername", "none") == "none"
    assert holding.get_write_buffer_size() == 7  # through __getattr__
    assert real.events == ["pause", "resume"]


def served(app: Any) -> tuple[CoalescingHttpToolsProtocol, RecordingTransport]:
    config = uvicorn.Config(app, http=CoalescingHttpToolsProtocol, lifespan="off", log_config=None)
    protocol = CoalescingHttpToolsProtocol(config, ServerState(), {}, asyncio.get_running_loop())
    transport = RecordingTransport()
    protocol.connection_made(transport)
    return protocol, transport


async def until(condition: Any) -> None:
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the protocol never got there")


async def test_uvicorn_answers_a_request_in_one_write() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        headers = [(b"content-length", b"5")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"hello"})

    protocol, transport = served(app)
    protocol.data_received(REQUEST + REQUEST)  # two pipelined requests: two answers, in order
    await until(lambda: len(transport.writes) == 2)
    await next_pass()
    assert len(transport.writes) == 2
    for answer in transport.writes:
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
        assert answer.endswith(b"\r\n\r\nhello")


async def test_uvicorn_streams_a_body_that_comes_later() -> None:
    release = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await release.wait()
        await send({"type": "http.response.body", "body": b"late", "more_body": False})

    protocol, transport = served(app)
    protocol.data_received(REQUEST)
    await until(lambda: transport.writes)  # the head, while the body waits
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"transfer-encoding: chunked" in transport.writes[0]
    release.set()
    await until(lambda: len(transport.writes) == 2)
    assert transport.writes[1] == b"4\r\nlate\r\n0\r\n\r\n"
