"""The python runtime's pure parts: handler strings, marshalling, error JSON."""

from __future__ import annotations

import decimal
import json
from pathlib import Path
from types import ModuleType

import pytest

from lambdad.runtimes.launch import BOOTSTRAP_DIR
from support.bootstraps import load_bootstrap


@pytest.fixture(scope="module")
def boot() -> ModuleType:
    return load_bootstrap("lambdad_py_bootstrap", "python/bootstrap.py")


@pytest.mark.parametrize(
    ("handler", "expected"),
    [
        ("app.handler", ("app", "handler")),
        ("pkg/mod.fn", ("pkg.mod", "fn")),
        ("pkg.sub.mod.fn", ("pkg.sub.mod", "fn")),
    ],
)
def test_parse_handler(boot: ModuleType, handler: str, expected: tuple[str, str]) -> None:
    assert boot.parse_handler(handler) == expected


def test_malformed_handler(boot: ModuleType) -> None:
    with pytest.raises(boot.FaultError) as info:
        boot.parse_handler("nodot")
    assert info.value.error_type == "Runtime.MalformedHandlerName"
    assert info.value.message == (
        "Bad handler 'nodot': not enough values to unpack (expected 2, got 1)"
    )


def test_import_module_error(boot: ModuleType) -> None:
    with pytest.raises(boot.FaultError) as info:
        boot.load_handler("surely_not_a_module_xyz.handler")
    assert info.value.error_type == "Runtime.ImportModuleError"
    assert info.value.message == (
        "Unable to import module 'surely_not_a_module_xyz': "
        "No module named 'surely_not_a_module_xyz'"
    )


def test_handler_not_found(boot: ModuleType) -> None:
    with pytest.raises(boot.FaultError) as info:
        boot.load_handler("json.nope")
    assert info.value.error_type == "Runtime.HandlerNotFound"
    assert info.value.message == "Handler 'nope' missing on module 'json'"


def test_marshal_response(boot: ModuleType) -> None:
    assert boot.marshal_response(b"\x00\xff") == (b"\x00\xff", "application/unknown")
    assert boot.marshal_response("hi") == (b'"hi"', "application/json")
    assert boot.marshal_response(None) == (b"null", "application/json")
    assert boot.marshal_response({"d": decimal.Decimal("1.5")})[0] == b'{"d": 1.5}'
    with pytest.raises(boot.FaultError) as info:
        boot.marshal_response({"s": {1, 2}})
    assert info.value.error_type == "Runtime.MarshalError"


def test_error_result_shape(boot: ModuleType) -> None:
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError as exc:
        error = boot.error_result(exc, "req-1")
    assert set(error) == {"errorMessage", "errorType", "requestId", "stackTrace"}
    assert error["errorType"] == "ZeroDivisionError"
    assert error["errorMessage"] == "division by zero"
    assert error["requestId"] == "req-1"
    assert error["stackTrace"][0].startswith('  File "')
    json.dumps(error)


def test_context_client_context(boot: ModuleType) -> None:
    ctx = boot.LambdaContext(
        "r", 0, "arn", {"client": {"app_title": "t"}, "custom": {"a": 1}, "env": {"e": 2}}, None
    )
    assert ctx.client_context.client.app_title == "t"
    assert ctx.client_context.custom == {"a": 1} and ctx.client_context.env == {"e": 2}
    assert ctx.identity.cognito_identity_id is None
    assert ctx.get_remaining_time_in_millis() == 0


# ---- Runtime API client ------------------------------------------------------------------------


def _serve_once(replies: list[bytes]) -> tuple[int, list[bytes]]:
    """A raw server: each accepted connection gets the next reply per request."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    requests: list[bytes] = []

    def run() -> None:
        while replies:
            conn, _ = listener.accept()
            with conn:
                while replies:
                    data = conn.recv(65536)
                    if not data:
                        break
                    requests.append(data)
                    reply = replies.pop(0)
                    if reply == b"CLOSE":
                        break
                    conn.sendall(reply)
        listener.close()

    threading.Thread(target=run, daemon=True).start()
    return listener.getsockname()[1], requests


def test_client_chunked_keep_alive_and_reconnect(boot: ModuleType) -> None:
    port, requests = _serve_once(
        [
            b"HTTP/1.1 200 OK\r\nLambda-Runtime-Aws-Request-Id: r1\r\n"
            b'Transfer-Encoding: chunked\r\n\r\n3\r\n{"a\r\n5;x=y\r\n": 1}\r\n0\r\n\r\n',
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{}",
            b"CLOSE",  # the server dropped the kept-alive connection: retried on a new one
            b"HTTP/1.1 200 OK\r\nLAMBDA-RUNTIME-AWS-REQUEST-ID: r2\r\nContent-Length: 2\r\n"
            b"Connection: close\r\n\r\n{}",
        ]
    )
    client = boot.RuntimeClient(f"127.0.0.1:{port}")
    headers, body = client.next()
    assert headers["lambda-runtime-aws-request-id"] == "r1" and body == b'{"a": 1}'
    client.post_response("r1", b'{"ok": true}', "application/json")
    invocation, body = client.next_invocation()  # the fields as the private channel names them
    assert invocation["request_id"] == "r2" and invocation["trace_id"] is None and body == b"{}"
    assert requests[0].startswith(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n")
    assert b"Content-Length: 12\r\n" in requests[1] and requests[1].endswith(b'{"ok": true}')


# ---- Logging -----------------------------------------------------------------------------------


def test_logging_set_up_when_first_imported(tmp_path: Path) -> None:
    """In a fresh interpreter: nothing imports logging until the function does."""
    import subprocess
    import sys

    script = f"""
import runpy, sys
sys.argv = ["bootstrap"]
ns = runpy.run_path({str(BOOTSTRAP_DIR / "python" / "bootstrap.py")!r}, run_name="boot")
assert "logging" not in sys.modules, "imported at startup"
ns["LoggingHook"]().install()
import logging
root = logging.getLogger()
assert len(root.handlers) == 1, root.handlers
logging.basicConfig(level=logging.DEBUG)  # a no-op, as on Lambda
assert len(root.handlers) == 1 and logging.getLogger().level == logging.WARNING
assert type(logging.__loader__).__name__ == "SourceFileLoader"
root.warning("hi %s", 1)
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False
    )
    assert out.returncode == 0, out.stderr
    level, stamp, request_id, message = out.stdout.rstrip("\n").split("\t")
    assert level == "[WARNING]" and stamp.endswith("Z") and request_id == "" and message == "hi 1"
