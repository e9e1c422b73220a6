"""init.py's streaming response mode over real sockets: relayed pieces, trailers,
the stream limit, and a runtime that breaks off mid-stream."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from support.bootstraps import FakeHost, load_bootstrap
from support.waiting import DEFAULT_TIMEOUT_S, join_thread

API = "/2018-06-01/runtime"
STREAMING = (
    "Lambda-Runtime-Function-Response-Mode: streaming\r\n"
    "Transfer-Encoding: chunked\r\nContent-Type: text/plain\r\n"
)


@pytest.fixture(scope="module")
def init() -> ModuleType:
    return load_bootstrap("lambdad_init_streaming", "init.py")


@pytest.fixture
def server(init: ModuleType) -> Iterator[tuple[FakeHost, int]]:
    host_end, init_end = socket.socketpair()
    channel = init.Channel(init_end)
    invocations = init.Invocations(channel)
    listener = init.listen("127.0.0.1:0")
    host = FakeHost(init, host_end)

    def read_invokes() -> None:
        while (frame := channel.recv()) is not None:
            invocations.add(*frame)

    invokes = threading.Thread(target=read_invokes, daemon=True)
    invokes.start()
    threading.Thread(target=init.serve, args=(listener, invocations), daemon=True).start()
    yield host, listener.getsockname()[1]
    host.close()
    join_thread(invokes, "init's invoke reader")
    init_end.close()


def start(host: FakeHost, port: int, request_id: str, **extra: Any) -> socket.socket:
    """Take the invocation (GET /next) and open its streamed response."""
    host.invoke(request_id, **extra)
    sock = socket.create_connection(("127.0.0.1", port), timeout=DEFAULT_TIMEOUT_S)
    sock.sendall(f"GET {API}/invocation/next HTTP/1.1\r\n\r\n".encode())
    reply(sock)
    sock.sendall(
        f"POST {API}/invocation/{request_id}/response HTTP/1.1\r\n{STREAMING}\r\n".encode()
    )
    return sock


def reply(sock: socket.socket) -> tuple[int, bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        assert data, buf
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(rest) < length:
        rest += sock.recv(65536)
    return int(head.split()[1]), rest[:length]


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def test_pieces_are_relayed_as_they_come(server: tuple[FakeHost, int]) -> None:
    host, port = server
    sock = start(host, port, "s1")
    header, _ = host.wait_for("stream_start")[0]
    assert header == {"type": "stream_start", "request_id": "s1", "content_type": "text/plain"}
    sock.sendall(chunk(b"hello "))
    # Relayed before the runtime sent anything more.
    assert host.wait_for("stream_chunk")[0][1] == b"hello "
    big = bytes(range(256)) * 600  # 150 KB in one chunk: relayed in 64 KB pieces
    sock.sendall(chunk(big) + b"0\r\n\r\n")
    status, body = reply(sock)
    assert status == 202 and json.loads(body) == {"status": "OK"}
    header, error = host.wait_for("stream_end")[0]
    assert header == {
        "type": "stream_end",
        "request_id": "s1",
        "error_type": None,
        "truncated": False,
    }
    pieces = [body for _, body in host.wait_for("stream_chunk")]
    assert all(len(p) <= 65536 for p in pieces)
    assert b"".join(pieces) == b"hello " + big
    # The invocation is over: another post for it is AWS's 403.
    sock.sendall(f"POST {API}/invocation/s1/response HTTP/1.1\r\n{STREAMING}\r\n".encode())
    assert reply(sock)[0] == 403


def test_error_trailers(server: tuple[FakeHost, int]) -> None:
    host, port = server
    sock = start(host, port, "s2")
    error = {"errorType": "ValueError", "errorMessage": "half way"}
    encoded = base64.b64encode(json.dumps(error).encode()).decode()
    sock.sendall(
        chunk(b"partial")
        + b"0\r\nLambda-Runtime-Function-Error-Type: ValueError\r\n"
        + f"Lambda-Runtime-Function-Error-Body: {encoded}\r\n\r\n".encode()
    )
    assert reply(sock)[0] == 202
    header, body = host.wait_for("stream_end")[0]
    assert header["error_type"] == "ValueError" and not header["truncated"]
    assert json.loads(body) == error


def test_past_the_stream_limit(server: tuple[FakeHost, int]) -> None:
    host, port = server
    sock = start(host, port, "s3", stream_limit=100_000)
    try:
        for _ in range(4):
            sock.sendall(chunk(b"x" * 40_000))
    except OSError:
        pass  # init may close the connection before all of it is sent
    header, body = host.wait_for("stream_end")[0]
    assert header["error_type"] == "Function.ResponseSizeTooLarge"
    assert "(100000 bytes)" in json.loads(body)["errorMessage"]
    relayed = sum(len(b) for _, b in host.wait_for("stream_chunk"))
    assert relayed <= 100_000


@pytest.mark.parametrize(
    "rest", [b"zz\r\n", b"10\r\nshort"], ids=["malformed-chunk-size", "runtime-went-away"]
)
def test_a_broken_stream_is_truncated(server: tuple[FakeHost, int], rest: bytes) -> None:
    host, port = server
    sock = start(host, port, "s4")
    sock.sendall(chunk(b"ok") + rest)
    sock.shutdown(socket.SHUT_WR)
    header, _ = host.wait_for("stream_end")[0]
    assert header["truncated"] is True and header["error_type"] is None
    sock.close()
