"""The port forwarder's relay on plain loopback sockets (no sandbox, no root)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import anyio
import pytest
from anyio.abc import SocketStream

from lambdad.sandbox import Forward, PortForwarder, SandboxError
from lambdad.sandbox.forwarding import ForwardHandle

pytestmark = pytest.mark.anyio

WAIT_S = 30  # generous: each wait ends as soon as its event happens


@pytest.fixture
async def forwarder() -> AsyncIterator[PortForwarder]:
    f = PortForwarder(max_connections=4, idle_timeout_s=0.3, connect_timeout_s=5)
    async with anyio.create_task_group() as group:
        await group.start(f.run)
        yield f
        group.cancel_scope.cancel()


@pytest.fixture
async def echo_port() -> AsyncIterator[int]:
    """A target that echoes until EOF, then says "bye" and closes."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")

    async def echo(stream: SocketStream) -> None:
        async with stream:
            try:
                while True:
                    await stream.send(await stream.receive())
            except anyio.EndOfStream:
                await stream.send(b"bye")

    async with anyio.create_task_group() as group:
        group.start_soon(listener.serve, echo)
        yield listener.extra(anyio.abc.SocketAttribute.local_port)
        group.cancel_scope.cancel()


def listening() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    return sock


def relay(forwarder: PortForwarder, target_port: int) -> tuple[ForwardHandle, int]:
    sock = listening()
    port = sock.getsockname()[1]
    return forwarder.open("t", [(sock, Forward(port, "127.0.0.1", target_port))]), port


async def read_all(stream: SocketStream) -> bytes:
    data = b""
    with anyio.fail_after(WAIT_S):
        try:
            while True:
                data += await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            return data


async def test_bytes_go_both_ways_and_eof_is_passed_on(
    forwarder: PortForwarder, echo_port: int
) -> None:
    handle, port = relay(forwarder, echo_port)
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(b"x" * 200_000)
        await stream.send_eof()
        assert await read_all(stream) == b"x" * 200_000 + b"bye"
    handle.close()


async def test_a_connection_idle_both_ways_is_closed(
    forwarder: PortForwarder, echo_port: int
) -> None:
    handle, port = relay(forwarder, echo_port)
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(b"ping")
        assert await read_all(stream) == b"ping"  # then nothing: closed after 0.3 s
    handle.close()


async def test_an_unreachable_target_closes_the_connection(forwarder: PortForwarder) -> None:
    closed = listening()
    dead_port = closed.getsockname()[1]
    closed.close()
    handle, port = relay(forwarder, dead_port)
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        assert await read_all(stream) == b""
    handle.close()


async def test_closing_the_handle_drops_its_connections(
    forwarder: PortForwarder, echo_port: int
) -> None:
    handle, port = relay(forwarder, echo_port)
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(b"a")
        with anyio.fail_after(WAIT_S):
            assert await stream.receive() == b"a"
        handle.close()
        assert await read_all(stream) == b""
    with pytest.raises(OSError):
        with anyio.fail_after(WAIT_S):
            await anyio.connect_tcp("127.0.0.1", port)


async def test_a_forwarder_that_is_not_running_refuses() -> None:
    sock = listening()
    with pytest.raises(SandboxError):
        PortForwarder().open("t", [(sock, Forward(1, "127.0.0.1", 1))])
    assert sock.fileno() == -1  # closed: nothing leaks


async def test_one_sandboxs_failed_forward_does_not_stop_the_forwarder(
    forwarder: PortForwarder, echo_port: int
) -> None:
    closed = listening()
    port = closed.getsockname()[1]
    closed.close()  # closed before the forwarder serves it: that sandbox's relay fails
    forwarder.open("gone", [(closed, Forward(port, "127.0.0.1", echo_port))])
    _, port = relay(forwarder, echo_port)
    with anyio.fail_after(WAIT_S):
        async with await anyio.connect_tcp("127.0.0.1", port) as stream:
            await stream.send(b"still here")
            assert await stream.receive() == b"still here"
    assert forwarder.running
