"""init.py's Runtime API server over real sockets: HTTP/1.1 details and the routes' replies."""

from __future__ import annotations

import base64
import json
import socket
import threading
import weakref
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from support.bootstraps import FakeHost, load_bootstrap
from support.waiting import DEFAULT_TIMEOUT_S, join_thread

API = "/2018-06-01/runtime"


@pytest.fixture(scope="module")
def init() -> ModuleType:
    return load_bootstrap("lambdad_init_http", "init.py")


@pytest.fixture
def server(init: ModuleType) -> Iterator[tuple[FakeHost, int]]:
    host_end, init_end = socket.socketpair()
    channel = init.Channel(init_end)
    invocations = init.Invocations(channel)
    listener = init.listen("127.0.0.1:0")
    port = listener.getsockname()[1]
    host = FakeHost(init, host_end)

    def read_invokes() -> None:
        while (frame := channel.recv()) is not None:
            invocations.add(*frame)

    invokes = threading.Thread(target=read_invokes, daemon=True)
    invokes.start()
    threading.Thread(target=init.serve, args=(listener, invocations), daemon=True).start()
    yield host, port
    host.close()
    join_thread(invokes, "init's invoke reader")  # it sees EOF once the host's end is shut
    init_end.close()


# Keyed by the socket, not its fd: the kernel reuses fd numbers once a socket is closed.
_unread: weakref.WeakKeyDictionary[socket.socket, bytes] = weakref.WeakKeyDictionary()


def exchange(sock: socket.socket, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw request bytes; read one response (Content-Length framed)."""
    sock.sendall(raw)
    buf = _unread.pop(sock, b"")
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, buf
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        rest += sock.recv(65536)
    _unread[sock] = rest[length:]
    return status, headers, rest[:length]


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=DEFAULT_TIMEOUT_S)


def test_next_then_response_keep_alive(server: tuple[FakeHost, int]) -> None:
    host, port = server
    sock = connect(port)
    host.invoke("r1", b'{"k": 1}')
    status, headers, body = exchange(sock, f"GET {API}/invocation/next HTTP/1.1\r\n\r\n".encode())
    assert status == 200 and body == b'{"k": 1}'
    assert headers["lambda-runtime-aws-request-id"] == "r1"
    assert headers["lambda-runtime-deadline-ms"] == "123"
    assert headers["lambda-runtime-cognito-identity"] == '{"cognitoIdentityId": "x"}'
    assert "lambda-runtime-client-context" not in headers
    host.wait_for("ready")[0]
    # Same connection (keep-alive), lower-case header names, a chunked body.
    chunked = b'5\r\n{"a":\r\n3;ext=1\r\n 1}\r\n0\r\nTrailer: x\r\n\r\n'
    status, _, body = exchange(
        sock,
        f"POST {API}/invocation/r1/response HTTP/1.1\r\ntransfer-encoding: Chunked\r\n\r\n".encode()
        + chunked,
    )
    assert status == 202 and json.loads(body) == {"status": "OK"}
    header, result = host.wait_for("result")[0]
    assert header["request_id"] == "r1" and header["status"] == "success"
    assert result == b'{"a": 1}'
    # A second post for the same id: AWS's 403.
    status, _, body = exchange(
        sock,
        f"POST {API}/invocation/r1/response HTTP/1.1\r\nContent-Length: 2\r\n\r\n{{}}".encode(),
    )
    assert status == 403 and json.loads(body)["errorType"] == "InvalidStateTransition"


def test_error_post_and_unknown_ids(server: tuple[FakeHost, int]) -> None:
    host, port = server
    sock = connect(port)
    host.invoke("r2")
    exchange(sock, f"GET {API}/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    err = b'{"errorType": "ValueError", "errorMessage": "bad"}'
    status, _, _ = exchange(
        sock,
        f"POST {API}/invocation/r2/error HTTP/1.1\r\nCONTENT-LENGTH: {len(err)}\r\n"
        "Expect: 100-continue\r\n\r\n".encode()
        + err,
    )
    assert status == 100  # the interim reply comes first...
    status, _, _ = exchange(sock, b"")  # ...then the real one
    assert status == 202
    header, body = host.wait_for("result")[0]
    assert header["status"] == "error" and header["error_type"] == "ValueError" and body == err
    status, _, body = exchange(
        sock, f"POST {API}/invocation/nope/response HTTP/1.1\r\nContent-Length: 0\r\n\r\n".encode()
    )
    assert status == 400 and json.loads(body) == {
        "errorMessage": "Invalid request ID",
        "errorType": "InvalidRequestID",
    }
    for method, path in (("GET", "/nope"), ("POST", f"{API}/invocation/r2/other")):
        status, _, body = exchange(
            sock, f"{method} {path} HTTP/1.1\r\nContent-Length: 0\r\n\r\n".encode()
        )
        assert status == 404 and json.loads(body)["errorType"] == "NotFound"
    status, headers, _ = exchange(sock, f"PUT {API}/x HTTP/1.1\r\n\r\n".encode())
    assert status == 501 and headers["connection"] == "close"


def test_too_large_bodies(server: tuple[FakeHost, int], init: ModuleType) -> None:
    host, port = server
    sock = connect(port)
    host.invoke("r3")
    exchange(sock, f"GET {API}/invocation/next HTTP/1.1\r\n\r\n".encode())
    big = b"x" * (init.MAX_RESPONSE + 1)
    status, _, body = exchange(
        sock,
        f"POST {API}/invocation/r3/response HTTP/1.1\r\nContent-Length: {len(big)}\r\n\r\n".encode()
        + big,
    )
    assert status == 413 and json.loads(body)["errorType"] == "RequestEntityTooLarge"
    header, result = host.wait_for("result")[0]
    assert header["error_type"] == "Function.ResponseSizeTooLarge"
    assert json.loads(result)["errorType"] == "Function.ResponseSizeTooLarge"
    status, headers, _ = exchange(
        connect(port),
        f"POST {API}/init/error HTTP/1.1\r\n"
        f"Content-Length: {init.MAX_BODY_READ + 1}\r\n\r\n".encode(),
    )
    assert status == 413 and headers["connection"] == "close"


def test_init_error_once(server: tuple[FakeHost, int]) -> None:
    host, port = server
    sock = connect(port)
    err = b'{"errorType": "Runtime.ImportModuleError", "errorMessage": "x"}'
    req = f"POST {API}/init/error HTTP/1.1\r\nContent-Length: {len(err)}\r\n\r\n".encode() + err
    status, _, _ = exchange(sock, req)
    assert status == 202
    header, body = host.wait_for("init_error")[0]
    assert header["error_type"] == "Runtime.ImportModuleError" and body == err
    status, _, body = exchange(sock, req)
    assert status == 403 and json.loads(body)["errorType"] == "InvalidStateTransition"


def test_http10_closes_and_bad_request_line(server: tuple[FakeHost, int]) -> None:
    _, port = server
    sock = connect(port)
    status, headers, _ = exchange(sock, b"GET /nope HTTP/1.0\r\n\r\n")
    assert status == 404 and headers["connection"] == "close"
    assert sock.recv(10) == b""
    status, _, body = exchange(connect(port), b"garbage\r\n\r\n")
    assert status == 400 and b"Bad request syntax" in body


def test_json_helpers(init: ModuleType) -> None:
    header = {"a": 'é"\n', "b": 5, "c": None, "d": True, "type": "x"}
    raw = init.dumps(header)
    assert json.loads(raw) == header and b" " not in raw
    assert init.dumps({"k": "v"}, compact=False) == json.dumps({"k": "v"}).encode()
    assert init.loads(b' {"x": [1, 2.5, NaN]} ')["x"][:2] == [1, 2.5]
    assert init.loads("\ufeff{}".encode()) == {}  # json's own rules for the unusual
    with pytest.raises(ValueError):
        init.loads(b"{} x")


def test_parse_args(init: ModuleType) -> None:
    assert init.parse_args(["--listen", "fd:3", "--channel-fd=7", "--", "a", "--", "b"]) == (
        "fd:3",
        7,
        False,
        None,
        ["a", "--", "b"],
    )
    argv = ["--private-channel", "--listen=fd:3", "--channel-fd", "7", "--", "a"]
    assert init.parse_args(argv) == ("fd:3", 7, True, None, ["a"])
    argv = ["--listen=fd:3", "--channel-fd=7", "--root", "/i", "--cwd", "/var/task", "--", "a"]
    assert init.parse_args(argv) == ("fd:3", 7, False, ("/i", "/var/task"), ["a"])
    with pytest.raises(SystemExit):
        init.parse_args(["--listen", "x"])


def post(sock: socket.socket, path: str, body: bytes, *headers: str) -> tuple[int, bytes]:
    head = "".join(f"{h}\r\n" for h in (*headers, f"Content-Length: {len(body)}"))
    status, _, reply = exchange(sock, f"POST {API}{path} HTTP/1.1\r\n{head}\r\n".encode() + body)
    return status, reply


def test_any_error_body_is_relayed_with_a_bounded_type(server: tuple[FakeHost, int]) -> None:
    host, port = server
    sock = connect(port)
    host.invoke("r1")
    exchange(sock, f"GET {API}/invocation/next HTTP/1.1\r\n\r\n".encode())
    nested = b"[" * 100_000 + b"]" * 100_000  # init reads it for an errorType: no crash
    status, _ = post(sock, "/invocation/r1/error", nested, "Lambda-Runtime-Function-Error-Type: X")
    assert status == 202
    [(header, body)] = host.wait_for("result")
    assert header["error_type"] == "X" and body == nested
    host.invoke("r2")
    exchange(sock, f"GET {API}/invocation/next HTTP/1.1\r\n\r\n".encode())
    long_type = "Lambda-Runtime-Function-Error-Type: " + "E" * 5000
    assert post(sock, "/invocation/r2/error", b"{}", long_type)[0] == 202
    assert host.wait_for("result", 2)[1][0]["error_type"] == "E" * 1024


@pytest.mark.parametrize(
    "header",
    [
        "Content-Length: -1",
        "Content-Length: +5",
        "Content-Length: 1_0",
        "Transfer-Encoding: chunked",
    ],
)
def test_malformed_lengths_are_refused(server: tuple[FakeHost, int], header: str) -> None:
    _, port = server
    sock = connect(port)
    body = b"-5\r\nabc\r\n0\r\n\r\n" if "chunked" in header else b"abcde"
    status, _, _ = exchange(
        sock, f"POST {API}/init/error HTTP/1.1\r\n{header}\r\n\r\n".encode() + body
    )
    assert status == 400


# ---- the streaming response mode: pieces relayed as they come, trailers, limits ----------

STREAMING = (
    "Lambda-Runtime-Function-Response-Mode: streaming\r\n"
    "Transfer-Encoding: chunked\r\nContent-Type: text/plain\r\n"
)


def start(host: FakeHost, port: int, request_id: str, **extra: Any) -> socket.socket:
    """Take the invocation (GET /next) and open its streamed response."""
    host.invoke(request_id, **extra)
    sock = socket.create_connection(("127.0.0.1", port), timeout=DEFAULT_TIMEOUT_S)
    sock.sendall(f"GET {API}/invocation/next HTTP/1.1\r\n\r\n".encode())
    exchange(sock, b"")
    sock.sendall(
        f"POST {API}/invocation/{request_id}/response HTTP/1.1\r\n{STREAMING}\r\n".encode()
    )
    return sock


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
    status, _, body = exchange(sock, b"")
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
    assert exchange(sock, b"")[0] == 403


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
    assert exchange(sock, b"")[0] == 202
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


def test_direct_fds(init: ModuleType) -> None:
    argv = ["--listen", "fd:3", "--channel-fd", "7", "--runtime-fd", "8", "--output-fd=9", "--"]
    assert init.direct_fds([*argv, "python", "--runtime-fd", "1"]) == (8, 9)
    assert init.parse_args([*argv, "a"]) == ("fd:3", 7, False, None, ["a"])
    assert init.direct_fds(["--listen", "x", "--channel-fd", "7", "--", "a"]) is None
    with pytest.raises(SystemExit):
        init.direct_fds(["--runtime-fd", "8", "--", "a"])  # both or neither
    with pytest.raises(SystemExit):
        init.direct_fds(["--runtime-fd", "x", "--output-fd", "9"])
