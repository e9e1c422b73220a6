"""The host's side of init's channel: whatever init sends is checked before it is used.

Init runs inside the sandbox, so each frame is untrusted. A malformed or
unexpected one poisons that environment (destroyed, never reused) and its
caller gets AWS's `Runtime.Unknown` with `Unhandled`; nothing escapes as an
exception to the server.
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
from anyio.abc import SocketStream
from anyio.streams.buffered import BufferedByteReceiveStream

from lambdad.pool.environment import ExecutionEnvironment
from lambdad.runtimes.channel import MAX_LOG_CHUNK, MAX_RESPONSE
from lambdad.sandbox.base import ExitStatus, SandboxSpec
from support.envkit import SubprocessSandbox, make_spec, request

pytestmark = pytest.mark.anyio


class FakeSandbox(SubprocessSandbox):
    """A sandbox with no process: always running until destroyed."""

    def __init__(self) -> None:
        super().__init__(cast(SandboxSpec, None), cast("subprocess.Popen[bytes]", None))
        self.destroyed: str | None = None

    def exit_status(self) -> ExitStatus | None:
        return None

    async def freeze(self) -> None:
        pass

    async def thaw(self) -> None:
        pass

    async def destroy(self, reason: str) -> None:
        self.destroyed = reason

    async def wait(self) -> ExitStatus:
        return ExitStatus(returncode=None, signal=9)  # as if init had been killed


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
