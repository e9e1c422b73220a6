"""init.py's private channel, against the python bootstrap's `PrivateClient` (both real)."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from support.bootstraps import FakeHost, load_bootstrap
from support.waiting import DEFAULT_TIMEOUT_S, join_thread


@pytest.fixture(scope="module")
def init() -> ModuleType:
    return load_bootstrap("lambdad_init_private", "init.py")


@pytest.fixture(scope="module")
def boot() -> ModuleType:
    return load_bootstrap("lambdad_py_bootstrap_private", "python/bootstrap.py")


@pytest.fixture
def link(init: ModuleType, boot: ModuleType) -> Iterator[tuple[FakeHost, Any]]:
    """A host, init's state and private channel, and the bootstrap's client on it."""
    host_end, init_end = socket.socketpair()
    ours, theirs = socket.socketpair()
    channel = init.Channel(init_end)
    invocations = init.Invocations(channel)
    done = threading.Lock()
    done.acquire()

    def read_invokes() -> None:
        while (frame := channel.recv_raw()) is not None:
            invocations.add(*frame)

    invokes = threading.Thread(target=read_invokes, daemon=True)
    invokes.start()
    threading.Thread(
        target=init.serve_private, args=(init.Channel(ours), invocations, done), daemon=True
    ).start()
    client = boot.PrivateClient(theirs.detach())
    host = FakeHost(init, host_end)
    yield host, client
    client.sock.close()
    assert done.acquire(timeout=DEFAULT_TIMEOUT_S)  # init's side ends when the runtime's closes
    host.close()
    join_thread(invokes, "init's invoke reader")  # it sees EOF once the host's end is shut
    init_end.close()


def test_next_relays_the_invoke_frame_then_response(link: tuple[FakeHost, Any]) -> None:
    host, client = link
    host.invoke("r1", b'{"k": 1}', client_context='{"custom": {"a": 1}}', extra="kept")
    invocation, body = client.next_invocation()
    assert host.wait_for("ready")
    assert body == b'{"k": 1}'
    assert invocation == {  # the host's header as it came (not re-encoded)
        "request_id": "r1",
        "deadline_ms": 123,
        "invoked_function_arn": "arn:fn",
        "trace_id": "Root=1",
        "client_context": '{"custom": {"a": 1}}',
        "cognito_identity": '{"cognitoIdentityId": "x"}',
        "extra": "kept",
        "type": "invoke",
    }
    client.post_response("r1", b"\x00\xff" * 40000, "application/unknown")
    [(header, payload)] = host.wait_for("result")
    assert header == {"request_id": "r1", "status": "success", "error_type": None, "type": "result"}
    assert payload == b"\x00\xff" * 40000


def test_error_and_a_stale_request_id(link: tuple[FakeHost, Any]) -> None:
    host, client = link
    host.invoke("r1")
    client.next_invocation()
    error = {"errorMessage": "boom", "errorType": "ValueError", "stackTrace": []}
    client.post_error("r1", error)
    client.post_response("r1", b"late", "application/json")  # refused, as over HTTP
    host.invoke("r2")
    assert client.next_invocation()[0]["request_id"] == "r2"
    client.post_response("r2", b"{}", "application/json")
    first, second = host.wait_for("result", 2)
    assert first[0]["status"] == "error" and first[0]["error_type"] == "ValueError"
    assert json.loads(first[1]) == error
    assert second[0]["request_id"] == "r2" and second[1] == b"{}"


def test_response_too_large(init: ModuleType, link: tuple[FakeHost, Any]) -> None:
    host, client = link
    host.invoke("r1")
    client.next_invocation()
    client.post_response("r1", b"x" * (init.MAX_RESPONSE + 1), "application/json")
    [(header, payload)] = host.wait_for("result")
    assert header["status"] == "error"
    assert header["error_type"] == "Function.ResponseSizeTooLarge"
    assert json.loads(payload)["errorType"] == "Function.ResponseSizeTooLarge"


def test_init_error_then_ack(link: tuple[FakeHost, Any]) -> None:
    host, client = link
    error = {"errorMessage": "no", "errorType": "Runtime.ImportModuleError", "stackTrace": []}
    client.post_init_error(error)  # returns once init has sent the frame to the host
    [(header, payload)] = host.wait_for("init_error")
    assert header["error_type"] == "Runtime.ImportModuleError"
    assert json.loads(payload) == error
    assert [h["type"] for h, _ in host.frames] == ["init_error"]


def _send(client: Any, header: bytes, body: bytes = b"", body_len: int | None = None) -> None:
    size = len(body) if body_len is None else body_len
    client.sock.sendall(len(header).to_bytes(4, "big") + size.to_bytes(4, "big") + header + body)


MALFORMED = {
    "error_type a list": b'{"type":"error","request_id":"r1","error_type":[1]}',
    "error_type an object": b'{"type":"init_error","error_type":{"a":1}}',
    "request_id a number": b'{"type":"response","request_id":7}',
    "request_id missing": b'{"type":"error","error_type":"E"}',
    "request_id too long": b'{"type":"response","request_id":"' + b"r" * 200 + b'"}',
    "unknown field": b'{"type":"next","extra":1}',
    "unknown type": b'{"type":"explode"}',
    "type a list": b'{"type":["next"]}',
    "not an object": b'["next"]',
    "not json": b"{nope",
    "deep nesting": b'{"type":"next","x":' + b"[" * 100000 + b"]" * 100000 + b"}",
}


@pytest.mark.parametrize("header", list(MALFORMED.values()), ids=list(MALFORMED))
def test_a_malformed_frame_is_a_fault_for_the_host(
    link: tuple[FakeHost, Any], header: bytes
) -> None:
    host, client = link
    host.invoke("r1")
    client.next_invocation()
    _send(client, header, b"{}")
    [(fault, _)] = host.wait_for("fault")
    assert isinstance(fault["reason"], str) and len(fault["reason"]) <= 1024
    assert [h["type"] for h, _ in host.frames] == ["ready", "fault"]  # no result


@pytest.mark.parametrize("sizes", [(1 << 20, 0), (20, 0xFFFF_FFF0)], ids=["header", "body"])
def test_sizes_past_the_limits_are_a_fault_before_anything_is_read(
    link: tuple[FakeHost, Any], sizes: tuple[int, int]
) -> None:
    host, client = link
    client.sock.sendall(sizes[0].to_bytes(4, "big") + sizes[1].to_bytes(4, "big"))
    [(fault, _)] = host.wait_for("fault")
    assert "byte" in fault["reason"]


def test_an_error_past_the_response_limit_is_read_past_not_kept(
    init: ModuleType, link: tuple[FakeHost, Any]
) -> None:
    host, client = link
    host.invoke("r1")
    client.next_invocation()
    error = {"errorMessage": "x" * (init.MAX_RESPONSE + 10), "errorType": "Big"}
    client.post_error("r1", error)
    [(header, payload)] = host.wait_for("result")
    assert header["error_type"] == "Function.ResponseSizeTooLarge"
    assert len(payload) < 1000
    host.invoke("r2")  # the link is still in step with the runtime
    assert client.next_invocation()[0]["request_id"] == "r2"


def test_a_long_error_type_is_cut(init: ModuleType, link: tuple[FakeHost, Any]) -> None:
    host, client = link
    host.invoke("r1")
    client.next_invocation()
    client.post_error("r1", {"errorMessage": "m", "errorType": "E" * 5000})
    [(header, _)] = host.wait_for("result")
    assert header["error_type"] == "E" * init.MAX_ERROR_TYPE


def test_an_invoke_for_a_waiting_runtime_is_handed_over_at_once(
    link: tuple[FakeHost, Any],
) -> None:
    """The runtime asks first, the event comes later: the thread that reads the host's
    frame gives it to the runtime (nothing queued for another thread)."""
    host, client = link
    got: list[tuple[dict[str, Any], bytes]] = []
    asking = threading.Thread(target=lambda: got.append(client.next_invocation()), daemon=True)
    asking.start()
    host.wait_for("ready")
    host.invoke("r1", b'{"late": true}')
    join_thread(asking, "the runtime's ask")
    [(invocation, body)] = got
    assert invocation["request_id"] == "r1" and body == b'{"late": true}'
    client.post_response("r1", b'{"ok": 1}', "application/json")
    [(header, payload)] = host.wait_for("result")
    assert header["request_id"] == "r1" and payload == b'{"ok": 1}'


def test_a_held_result_goes_out_with_the_next_ask(link: tuple[FakeHost, Any]) -> None:
    """`hold=True` (the bootstrap's loop): the result and the next ask in one write; init
    sends the result before it hands out the next event."""
    host, client = link
    host.invoke("r1")
    client.next_invocation()
    client.post_response("r1", b"one", "application/json", hold=True)
    assert client.held  # not sent yet
    host.invoke("r2")
    assert client.next_invocation()[0]["request_id"] == "r2"
    [(header, payload)] = host.wait_for("result")
    assert header["request_id"] == "r1" and payload == b"one"
    client.post_error("r2", {"errorMessage": "m", "errorType": "E"}, hold=True)
    host.invoke("r3")
    assert client.next_invocation()[0]["request_id"] == "r3"
    _, (header, _) = host.wait_for("result", 2)
    assert header == {"request_id": "r2", "status": "error", "error_type": "E", "type": "result"}
