"""The host's side of init's channel: whatever init sends is checked before it is used.

Init runs inside the sandbox, so each frame is untrusted. A malformed or
unexpected one poisons that environment (destroyed, never reused) and its
caller gets AWS's `Runtime.Unknown` with `Unhandled`; nothing escapes as an
exception to the server.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
from anyio.abc import SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

from lambdad.pool import environment
from lambdad.pool.environment import ExecutionEnvironment
from lambdad.runtimes import InvokeOutcome
from lambdad.runtimes.channel import MAX_LOG_CHUNK, MAX_RESPONSE, MAX_STREAM_CHUNK
from support.envkit import FakeSandbox, make_spec, request

pytestmark = pytest.mark.anyio


class Wired:
    """An environment whose channel's other end is the test's (a fake, hostile init)."""

    def __init__(self, env: ExecutionEnvironment, init: socket.socket, sandbox: FakeSandbox):
        self.env = env
        self.init = init
        self.sandbox = sandbox

    def send(self, header: dict[str, Any] | bytes, body: bytes = b"", body_len: int = -1) -> None:
        raw = header if isinstance(header, bytes) else json.dumps(header).encode()
        size = len(body) if body_len < 0 else body_len
        self.init.sendall(len(raw).to_bytes(4, "big") + size.to_bytes(4, "big") + raw + body)


@pytest.fixture
async def wired(tmp_path: Path) -> AsyncIterator[Wired]:
    env = ExecutionEnvironment(make_spec(tmp_path, {"app.py": ""}), "fake")
    host_end, init_end = socket.socketpair()
    sandbox = FakeSandbox()
    stream = await SocketStream.from_socket(host_end)
    env._sandbox = sandbox
    env._stream = stream
    env._reader = BufferedByteReceiveStream(stream)
    yield Wired(env, init_end, sandbox)
    await env.destroy("test over")
    init_end.close()


def result(request_id: str, **fields: Any) -> dict[str, Any]:
    return {"type": "result", "request_id": request_id, "status": "error", **fields}


HOSTILE: dict[str, Any] = {
    "error_type a list": lambda rid: (result(rid, error_type=[1]), b"{}"),
    "error_type an object": lambda rid: (result(rid, error_type={"a": 1}), b"{}"),
    "error_type too long": lambda rid: (result(rid, error_type="E" * 5000), b"{}"),
    "status unknown": lambda rid: (result(rid, status="fine"), b"{}"),
    "another request's result": lambda rid: (result("someone-else"), b"{}"),
    "a second ready": lambda rid: ({"type": "ready"}, b""),
    "an init error after Init": lambda rid: ({"type": "init_error"}, b"{}"),
    "an unknown type": lambda rid: ({"type": "explode"}, b""),
    "an extra field": lambda rid: ({**result(rid), "x": 1}, b"{}"),
    "a fault": lambda rid: ({"type": "fault", "reason": "runtime broke the protocol"}, b""),
    "not json": lambda rid: (b"{nope", b""),
    "a bare list": lambda rid: (b"[1, 2]", b""),
    "a stream chunk outside a stream": lambda rid: ({"type": "stream_chunk"}, b"x"),
    "a stream end without its start": lambda rid: (
        {"type": "stream_end", "request_id": rid},
        b"",
    ),
    "another request's stream": lambda rid: (
        {"type": "stream_start", "request_id": "someone-else", "content_type": "a/b"},
        b"",
    ),
}


@pytest.mark.parametrize("make", list(HOSTILE.values()), ids=list(HOSTILE))
async def test_a_hostile_frame_poisons_the_environment(wired: Wired, make: Any) -> None:
    invocation = request()
    header, body = make(invocation.request_id)
    wired.send({"type": "log"}, b"some output\n")
    wired.send(header, body)

    outcome = await wired.env.invoke(invocation, timeout_s=5)

    assert outcome.error_type == "Runtime.Unknown"
    assert outcome.function_error == "Unhandled" and not outcome.reusable
    error = json.loads(outcome.payload)
    assert error["errorType"] == "Runtime.Unknown"
    assert invocation.request_id in error["errorMessage"]
    assert outcome.logs == b"some output\n"
    assert wired.sandbox.destroyed is not None and not wired.env.is_alive()


@pytest.mark.parametrize(
    ("header", "body_len"),
    [({"type": "log"}, MAX_LOG_CHUNK + 1), ({"type": "ready"}, 1), ({"type": "log"}, 1 << 31)],
    ids=["log chunk", "ready with a body", "4 GB"],
)
async def test_a_body_past_its_frame_limit_is_refused_unread(
    wired: Wired, header: dict[str, Any], body_len: int
) -> None:
    wired.send(header, body_len=body_len)  # the body never comes: it must not be awaited
    outcome = await wired.env.invoke(request(), timeout_s=5)
    assert outcome.error_type == "Runtime.Unknown" and not outcome.reusable


async def test_a_result_past_the_response_limit_is_refused(wired: Wired) -> None:
    invocation = request()
    wired.send(result(invocation.request_id), body_len=MAX_RESPONSE + 1)
    outcome = await wired.env.invoke(invocation, timeout_s=5)
    assert outcome.error_type == "Runtime.Unknown"


async def test_a_well_formed_result_keeps_the_environment(wired: Wired) -> None:
    invocation = request()
    wired.send(result(invocation.request_id, error_type="ValueError"), b'{"errorType": "V"}')
    outcome = await wired.env.invoke(invocation, timeout_s=5)
    assert outcome.error_type == "ValueError" and outcome.reusable
    assert wired.sandbox.destroyed is None


async def test_a_hostile_frame_during_init_fails_init(wired: Wired) -> None:
    wired.send(result("r1", status="success"), b"{}")
    await wired.env._await_init(5.0)
    assert wired.env.init_error is not None
    assert wired.env.init_error.error_type == "Runtime.Unknown"
    assert wired.sandbox.destroyed is not None


async def test_a_channel_init_closed_fails_the_invocation_not_the_server(wired: Wired) -> None:
    """Init gone (it closed its end after a fault, or died): the invoke frame cannot be
    written, and the caller gets a runtime error instead of an exception."""
    wired.init.close()
    outcome = await wired.env.invoke(request(), timeout_s=5)
    assert outcome.function_error == "Unhandled" and not outcome.reusable
    assert wired.sandbox.destroyed is not None and not wired.env.is_alive()


# ---- streamed responses -------------------------------------------------------------------


class Recorder:
    """A ResponseStream that keeps what it is given; `gate` (when set) holds each write."""

    def __init__(self, gate: anyio.Event | None = None) -> None:
        self.content_type: str | None = None
        self.chunks: list[bytes] = []
        self.gate = gate

    async def start(self, content_type: str) -> None:
        self.content_type = content_type

    async def write(self, chunk: bytes) -> None:
        self.chunks.append(chunk)
        if self.gate is not None:
            await self.gate.wait()


def stream_start(rid: str) -> dict[str, Any]:
    return {"type": "stream_start", "request_id": rid, "content_type": "text/plain"}


def stream_end(rid: str, **fields: Any) -> dict[str, Any]:
    return {"type": "stream_end", "request_id": rid, **fields}


async def test_a_stream_goes_to_the_response_stream(wired: Wired) -> None:
    invocation = request()
    wired.send(stream_start(invocation.request_id))
    wired.send({"type": "stream_chunk"}, b"one ")
    wired.send({"type": "log"}, b"a line\n")
    wired.send({"type": "stream_chunk"}, b"two")
    wired.send(stream_end(invocation.request_id))
    recorder = Recorder()
    outcome = await wired.env.invoke(invocation, timeout_s=5, response=recorder)
    assert recorder.content_type == "text/plain" and recorder.chunks == [b"one ", b"two"]
    assert outcome.streamed and outcome.reusable and outcome.function_error is None
    assert outcome.payload == b"" and outcome.logs == b"a line\n"


async def test_a_stream_without_a_response_stream_is_kept_whole(wired: Wired) -> None:
    invocation = request()
    wired.send(stream_start(invocation.request_id))
    wired.send({"type": "stream_chunk"}, b"all ")
    wired.send({"type": "stream_chunk"}, b"of it")
    wired.send(stream_end(invocation.request_id))
    outcome = await wired.env.invoke(invocation, timeout_s=5)
    assert not outcome.streamed and outcome.payload == b"all of it"


async def test_a_stream_that_ends_with_the_functions_error(wired: Wired) -> None:
    invocation = request()
    wired.send(stream_start(invocation.request_id))
    error = b'{"errorType": "ValueError", "errorMessage": "x"}'
    wired.send(stream_end(invocation.request_id, error_type="ValueError"), error)
    outcome = await wired.env.invoke(invocation, timeout_s=5, response=Recorder())
    assert outcome.streamed and outcome.reusable
    assert (outcome.function_error, outcome.error_type, outcome.payload) == (
        "Unhandled",
        "ValueError",
        error,
    )


async def test_a_stream_past_the_limit_init_was_given_poisons(wired: Wired) -> None:
    invocation = request(stream_limit=10)
    wired.send(stream_start(invocation.request_id))
    wired.send({"type": "stream_chunk"}, b"x" * 11)
    outcome = await wired.env.invoke(invocation, timeout_s=5, response=Recorder())
    assert outcome.error_type == "Runtime.Unknown" and not outcome.reusable
    assert wired.sandbox.destroyed is not None


async def test_a_stream_chunk_past_its_frame_limit_is_refused_unread(wired: Wired) -> None:
    invocation = request()
    wired.send(stream_start(invocation.request_id))
    wired.send({"type": "stream_chunk"}, body_len=MAX_STREAM_CHUNK + 1)
    outcome = await wired.env.invoke(invocation, timeout_s=5, response=Recorder())
    assert outcome.error_type == "Runtime.Unknown" and not outcome.reusable


async def test_a_truncated_stream_destroys_the_environment(
    wired: Wired, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(environment, "TRUNCATED_EXIT_WAIT_S", 0.05)
    invocation = request()
    wired.send(stream_start(invocation.request_id))
    wired.send(stream_end(invocation.request_id, truncated=True))
    outcome = await wired.env.invoke(invocation, timeout_s=5, response=Recorder())
    assert outcome.error_type == "Runtime.TruncatedResponse" and not outcome.reusable
    assert wired.sandbox.destroyed is not None


async def test_a_truncated_stream_of_a_runtime_that_exited(wired: Wired) -> None:
    invocation = request()
    wired.send(stream_start(invocation.request_id))
    wired.send(stream_end(invocation.request_id, truncated=True))
    wired.send({"type": "exited", "returncode": 3})
    outcome = await wired.env.invoke(invocation, timeout_s=5, response=Recorder())
    assert outcome.error_type == "Runtime.ExitError" and not outcome.reusable


async def test_a_slow_reader_holds_the_stream_back(wired: Wired) -> None:
    """While the response stream takes nothing, the host reads nothing more: init's
    writes block once the socket's buffers are full (nothing piles up on the host)."""
    invocation = request()
    gate = anyio.Event()
    recorder = Recorder(gate)
    frame = b'{"type":"stream_chunk"}'
    piece = len(frame).to_bytes(4, "big") + MAX_STREAM_CHUNK.to_bytes(4, "big") + frame
    piece += b"x" * MAX_STREAM_CHUNK
    wired.send(stream_start(invocation.request_id))
    wired.init.setblocking(False)
    sent = 0
    cap = 64 << 20  # far more than any socket buffer
    outcomes: list[InvokeOutcome] = []
    async with anyio.create_task_group() as tasks:

        async def run() -> None:
            outcomes.append(await wired.env.invoke(invocation, timeout_s=30, response=recorder))

        tasks.start_soon(run)
        pending = b""
        while sent < cap:
            await anyio.wait_all_tasks_blocked()
            try:
                n = wired.init.send(pending or piece)
            except BlockingIOError:
                break
            pending = (pending or piece)[n:]
            sent += n
        assert sent < cap, "the host kept reading while its reader took nothing"
        assert len(recorder.chunks) == 1  # held at the first write
        wired.init.setblocking(True)
        gate.set()
        rest = pending + b"".join([piece] * 2)
        await anyio.to_thread.run_sync(wired.init.sendall, rest)
        wired.send(stream_end(invocation.request_id))
    (outcome,) = outcomes
    assert outcome.streamed and outcome.reusable
    total = sum(len(c) for c in recorder.chunks)
    assert total == (sent + len(rest)) // len(piece) * MAX_STREAM_CHUNK
