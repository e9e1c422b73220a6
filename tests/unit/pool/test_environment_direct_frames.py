"""The host's side of the built-in runtime's direct channel (`runtimes/direct.py`).

Beside `test_environment_frames.py` (init's frames): here the test plays the
runtime (its end of the channel and the write end of its output pipe) and init
(its end of init's channel). Whatever the runtime sends is checked as init
checked it: a malformed, oversized or out-of-order frame poisons that one
environment (destroyed; the caller gets `Runtime.Unknown`), and the output the
runtime wrote before its result reaches the log before the result.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from lambdad.pool.environment import ExecutionEnvironment
from lambdad.runtimes import InvokeOutcome, InvokeRequest
from lambdad.runtimes.channel import MAX_RESPONSE
from lambdad.runtimes.direct import (
    MAX_RUNTIME_BODY,
    MAX_RUNTIME_HEADER,
    STRAY_LIMIT,
    DirectLink,
)
from support.envkit import FakeSandbox, make_spec, request
from support.waiting import join_thread, wait_until, wait_until_async

pytestmark = pytest.mark.anyio


def frame(header: dict[str, Any] | bytes, body: bytes = b"", body_len: int = -1) -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    size = len(body) if body_len < 0 else body_len
    return len(raw).to_bytes(4, "big") + size.to_bytes(4, "big") + raw + body


class Wired:
    """An environment whose runtime, output pipe and init are the test's."""

    def __init__(self, tmp_path: Path) -> None:
        self.env = ExecutionEnvironment(make_spec(tmp_path, {"app.py": ""}), "fake")
        runtime_host, self.runtime = socket.socketpair()
        init_host, self.init = socket.socketpair()
        output_r, self.output = os.pipe()
        self.sandbox = FakeSandbox()
        self.env._sandbox = self.sandbox
        self.env._direct = DirectLink(runtime_host, init_host, output_r)

    def from_runtime(self, header: dict[str, Any] | bytes, body: bytes = b"", **kw: Any) -> None:
        self.runtime.sendall(frame(header, body, **kw))

    def from_init(self, header: dict[str, Any]) -> None:
        self.init.sendall(frame(header))

    def write(self, data: bytes) -> None:
        os.write(self.output, data)

    def received(self) -> bytes:
        """What the host sent the runtime so far."""
        self.runtime.setblocking(False)
        try:
            return self.runtime.recv(1 << 20)
        except BlockingIOError:
            return b""
        finally:
            self.runtime.setblocking(True)

    def close(self) -> None:
        self.runtime.close()
        self.init.close()
        os.close(self.output)


@pytest.fixture
async def wired(tmp_path: Path) -> AsyncIterator[Wired]:
    wired = Wired(tmp_path)
    yield wired
    await wired.env.destroy("test over")
    wired.close()


async def ready(wired: Wired) -> None:
    wired.from_runtime({"type": "next"})
    await wired.env._await_init(5.0)
    assert wired.env.init_error is None


async def invoke_beside(
    wired: Wired, invocation: InvokeRequest, runtime: Callable[[], None]
) -> InvokeOutcome:
    """Invoke while `runtime` (blocking writes, more than the kernel buffers) runs."""
    writer = threading.Thread(target=runtime)
    writer.start()
    try:
        return await wired.env.invoke(invocation, timeout_s=30)
    finally:
        join_thread(writer, "the runtime's writes")


def response(rid: str) -> dict[str, Any]:
    return {"type": "response", "request_id": rid}


HOSTILE: dict[str, Any] = {
    "an unknown type": lambda rid: ({"type": "explode"}, b""),
    "no type": lambda rid: ({"request_id": rid}, b""),
    "an extra field": lambda rid: ({**response(rid), "x": 1}, b"{}"),
    "request_id a number": lambda rid: ({"type": "response", "request_id": 7}, b"{}"),
    "request_id empty": lambda rid: (response(""), b"{}"),
    "request_id too long": lambda rid: (response("r" * 129), b"{}"),
    "error_type a list": lambda rid: (
        {"type": "error", "request_id": rid, "error_type": [1]},
        b"{}",
    ),
    "not json": lambda rid: (b"{nope", b""),
    "a bare list": lambda rid: (b"[1, 2]", b""),
    "nested too deeply": lambda rid: (b"[" * 100_000, b""),
}


@pytest.mark.parametrize("make", list(HOSTILE.values()), ids=list(HOSTILE))
async def test_a_hostile_frame_from_the_runtime_poisons_the_environment(
    wired: Wired, make: Any
) -> None:
    await ready(wired)
    invocation = request()
    header, body = make(invocation.request_id)
    wired.write(b"some output\n")
    wired.from_runtime(header, body)

    outcome = await wired.env.invoke(invocation, timeout_s=5)

    assert outcome.error_type == "Runtime.Unknown"
    assert outcome.function_error == "Unhandled" and not outcome.reusable
    assert invocation.request_id in json.loads(outcome.payload)["errorMessage"]
    assert wired.sandbox.destroyed is not None and not wired.env.is_alive()


@pytest.mark.parametrize(
    ("header", "body_len"),
    [
        (b"x" * (MAX_RUNTIME_HEADER + 1), 0),
        ({"type": "next"}, MAX_RUNTIME_BODY + 1),
        ({"type": "response", "request_id": "r"}, 1 << 31),
    ],
    ids=["header", "body past 64 MB", "2 GB"],
)
async def test_sizes_past_the_limits_are_refused_before_anything_is_read(
    wired: Wired, header: dict[str, Any] | bytes, body_len: int
) -> None:
    await ready(wired)
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    # Only the prefix: what it announces never comes, and must not be awaited.
    wired.runtime.sendall(len(raw).to_bytes(4, "big") + body_len.to_bytes(4, "big"))
    outcome = await wired.env.invoke(request(), timeout_s=5)
    assert outcome.error_type == "Runtime.Unknown" and not outcome.reusable


async def test_one_answer_per_invocation_and_stray_ones_are_ignored(wired: Wired) -> None:
    """As init did (it answered them 400 or 403): a second answer, one for another
    request or during Init, and an extra ask change nothing."""
    wired.from_runtime(response("during-init"), b"{}")
    await ready(wired)
    first = request()
    wired.from_runtime(response(first.request_id), b'"one"')
    wired.from_runtime(response(first.request_id), b'"again"')
    wired.from_runtime({"type": "next"})
    wired.from_runtime({"type": "next"})
    outcome = await wired.env.invoke(first, timeout_s=5)
    assert outcome.payload == b'"one"' and outcome.reusable
    second = request()
    wired.from_runtime(response("someone-else"), b'"no"')
    wired.from_runtime(response(second.request_id), b'"two"')
    outcome = await wired.env.invoke(second, timeout_s=5)
    assert outcome.payload == b'"two"' and outcome.reusable
    assert wired.sandbox.destroyed is None


@pytest.mark.parametrize(
    "stray",
    [lambda rid: (response("someone-else"), b"{}"), lambda rid: ({"type": "next"}, b"")],
    ids=["answers for others", "asks"],
)
async def test_a_flood_of_stray_frames_poisons(wired: Wired, stray: Any) -> None:
    """Ignoring them costs the server's CPU (not the function's): a few per invocation."""
    await ready(wired)
    invocation = request()
    for _ in range(STRAY_LIMIT + 2):
        wired.from_runtime(*stray(invocation.request_id))
    wired.from_runtime(response(invocation.request_id), b"{}")
    outcome = await wired.env.invoke(invocation, timeout_s=5)
    assert outcome.error_type == "Runtime.Unknown" and not outcome.reusable


async def test_output_before_the_result_is_in_its_log(wired: Wired) -> None:
    wired.write(b"init output\n")
    await ready(wired)
    assert wired.env.init_logs == b"init output\n"
    invocation = request()
    wired.write(b"line one\n")
    wired.write(b"line two\n")
    wired.from_runtime(response(invocation.request_id), b'{"ok": 1}')
    wired.from_runtime({"type": "next"})
    outcome = await wired.env.invoke(invocation, timeout_s=5)
    assert outcome.payload == b'{"ok": 1}' and outcome.reusable
    assert outcome.logs == b"line one\nline two\n"
    sent = wired.received()
    assert json.loads(sent[8 : 8 + int.from_bytes(sent[:4], "big")])["type"] == "invoke"


async def test_output_past_the_pipe_buffer_does_not_block_the_invocation(
    wired: Wired,
) -> None:
    """A runtime writing more than the pipe holds before its result: the host reads the
    pipe while it waits, so neither side blocks for good."""
    await ready(wired)
    invocation = request()
    total = 1 << 20

    def runtime() -> None:
        os.write(wired.output, b"x" * total)  # blocks until the host has read it
        wired.from_runtime(response(invocation.request_id), b"{}")

    outcome = await invoke_beside(wired, invocation, runtime)
    assert outcome.reusable and outcome.payload == b"{}"


async def test_the_error_type_comes_from_the_error_json_first(wired: Wired) -> None:
    await ready(wired)
    invocation = request()
    header = {"type": "error", "request_id": invocation.request_id, "error_type": "Header"}
    wired.from_runtime(header, b'{"errorType": "ValueError", "errorMessage": "x"}')
    outcome = await wired.env.invoke(invocation, timeout_s=5)
    assert (outcome.function_error, outcome.error_type) == ("Unhandled", "ValueError")
    assert outcome.reusable


async def test_a_response_past_the_limit_is_read_past_and_refused(wired: Wired) -> None:
    await ready(wired)
    invocation = request()
    size = MAX_RESPONSE + 1

    def runtime() -> None:
        wired.from_runtime(response(invocation.request_id), b"x" * size)

    outcome = await invoke_beside(wired, invocation, runtime)
    assert outcome.error_type == "Function.ResponseSizeTooLarge" and outcome.reusable
    assert f"({size} bytes)" in json.loads(outcome.payload)["errorMessage"]


async def test_an_init_error_is_acknowledged(wired: Wired) -> None:
    error = b'{"errorType": "Runtime.ImportModuleError", "errorMessage": "no"}'
    wired.write(b"Traceback\n")
    wired.from_runtime({"type": "init_error", "error_type": "Runtime.ImportModuleError"}, error)
    await wired.env._await_init(5.0)
    assert wired.env.init_error is not None
    assert wired.env.init_error.error_type == "Runtime.ImportModuleError"
    assert wired.env.init_error.payload == error
    assert wired.env.init_logs == b"Traceback\n"
    assert b'"type":"ack"' in wired.received()  # the runtime waits for it before it exits


async def test_what_the_runtime_sent_before_it_exited_goes_first(wired: Wired) -> None:
    await ready(wired)
    invocation = request()
    wired.write(b"last words\n")
    wired.from_init({"type": "exited", "returncode": 0})
    wired.from_runtime(response(invocation.request_id), b'"done"')
    wired.runtime.close()
    outcome = await wired.env.invoke(invocation, timeout_s=5)
    assert outcome.payload == b'"done"' and outcome.logs == b"last words\n"
    outcome = await wired.env.invoke(request(), timeout_s=5)
    assert outcome.error_type == "Runtime.ExitError" and not outcome.reusable


async def test_a_runtime_that_exits_mid_invocation(wired: Wired) -> None:
    await ready(wired)
    invocation = request()
    wired.write(b"bye\n")
    wired.runtime.close()
    wired.from_init({"type": "exited", "returncode": 3})
    outcome = await wired.env.invoke(invocation, timeout_s=5)
    assert outcome.error_type == "Runtime.ExitError" and not outcome.reusable
    assert "exit status 3" in json.loads(outcome.payload)["errorMessage"]
    assert outcome.logs == b"bye\n"


async def test_init_gone_fails_the_invocation_not_the_server(wired: Wired) -> None:
    await ready(wired)
    wired.init.close()
    outcome = await wired.env.invoke(request(), timeout_s=5)
    assert outcome.function_error == "Unhandled" and not outcome.reusable
    assert wired.sandbox.destroyed is not None


async def test_a_fault_init_reports_poisons(wired: Wired) -> None:
    await ready(wired)
    wired.from_init({"type": "fault", "reason": "broke"})
    outcome = await wired.env.invoke(request(), timeout_s=5)
    assert outcome.error_type == "Runtime.Unknown" and not outcome.reusable


async def test_a_destroy_while_an_invocation_waits(wired: Wired) -> None:
    """Destroyed from elsewhere mid-invocation: the waiting invoke ends (the link stops
    watching its fds before they close) with a runtime error, not an exception."""
    await ready(wired)
    outcomes: list[Any] = []
    async with anyio.create_task_group() as tasks:

        async def run() -> None:
            outcomes.append(await wired.env.invoke(request(), timeout_s=30))

        tasks.start_soon(run)
        link = wired.env._direct
        assert link is not None
        await wait_until_async(lambda: link._woken is not None, "the invocation to wait")
        await wired.env.destroy("deleted")
    assert outcomes[0].function_error == "Unhandled" and not outcomes[0].reusable
    assert outcomes[0].error_type != "Sandbox.Timedout"  # woken by the destroy, not later


async def test_readiness_with_nobody_waiting_unwatches_until_the_next_wait(
    wired: Wired,
) -> None:
    """The readiness callbacks stay registered from one wait to the next; one that fires
    with no wait (output between invocations) unregisters its fd, or the loop would call
    it on every pass; the next invocation watches it again and gets that output first."""
    await ready(wired)
    link = wired.env._direct
    assert link is not None
    output_fd = link._output
    first = request()

    def answer_once_waited() -> None:
        wait_until(lambda: link._woken is not None, "the invocation to wait")
        wired.from_runtime(response(first.request_id), b"{}")

    assert (await invoke_beside(wired, first, answer_once_waited)).reusable
    assert output_fd in link._watched  # kept from the invocation's wait
    wired.write(b"between invocations\n")
    await wait_until_async(lambda: output_fd not in link._watched, "the output fd unwatched")
    invocation = request()

    def runtime() -> None:
        wired.write(b"during\n")
        wired.from_runtime(response(invocation.request_id), b"{}")

    outcome = await invoke_beside(wired, invocation, runtime)
    assert outcome.reusable and outcome.logs == b"between invocations\nduring\n"
    wired.env._direct = None  # closed here, not by the fixture's destroy
    link.close()
    assert not link._watched


async def test_a_closed_output_pipe_is_no_longer_watched(wired: Wired) -> None:
    """An fd at its end is readable for ever: it must not stay registered."""
    await ready(wired)
    link = wired.env._direct
    assert link is not None
    invocation = request()
    os.close(wired.output)
    wired.output = os.open(os.devnull, os.O_WRONLY)  # for the fixture's close
    wired.from_runtime(response(invocation.request_id), b"{}")
    outcome = await wired.env.invoke(invocation, timeout_s=5)
    assert outcome.reusable
    await wait_until_async(lambda: link._output not in link._watched, "the closed fd unwatched")


# ---- timeouts: the link's waits end at the invocation's deadline ---------------------------

TIMEOUT_S = 0.3


def timed_out(outcome: InvokeOutcome, wired: Wired) -> bool:
    return (
        outcome.error_type == "Sandbox.Timedout"
        and outcome.function_error == "Unhandled"
        and not outcome.reusable
        and wired.sandbox.destroyed is not None
    )


async def test_a_runtime_that_never_answers_times_out(wired: Wired) -> None:
    await ready(wired)
    invocation = request()
    started = anyio.current_time()
    outcome = await wired.env.invoke(invocation, timeout_s=TIMEOUT_S)
    assert timed_out(outcome, wired)
    assert anyio.current_time() - started >= TIMEOUT_S
    assert outcome.duration_ms >= TIMEOUT_S * 1000 - 5  # the loop's clock ticks in ms
    assert invocation.request_id in json.loads(outcome.payload)["errorMessage"]


async def test_a_runtime_writing_without_pause_times_out(wired: Wired) -> None:
    """It never answers; the host reads its output until the deadline."""
    await ready(wired)
    stop = threading.Event()

    def runtime() -> None:
        while not stop.is_set():
            try:
                wired.write(b"more\n" * 1000)
            except OSError:  # the host closed its end: the sandbox is gone
                return

    writer = threading.Thread(target=runtime)
    writer.start()
    try:
        with anyio.fail_after(30):  # a bound on the test, far past the function's timeout
            outcome = await wired.env.invoke(request(), timeout_s=TIMEOUT_S)
    finally:
        stop.set()
        wired.env._direct = None  # unblock the writer: close the read end now
        join_thread(writer, "the runtime's writes")
    assert timed_out(outcome, wired)


async def test_output_the_log_store_is_not_ready_for_waits_within_the_deadline(
    wired: Wired,
) -> None:
    class Stalled:
        async def write(self, chunk: bytes) -> None:
            await anyio.sleep_forever()

        async def end(self) -> None:
            pass

    await ready(wired)
    wired.write(b"a line\n")
    outcome = await wired.env.invoke(request(), timeout_s=TIMEOUT_S, output=Stalled())
    assert timed_out(outcome, wired)


async def test_an_event_the_runtime_does_not_read_times_out(wired: Wired) -> None:
    """Bigger than the socket's buffers, to a runtime that reads nothing: the send waits."""
    await ready(wired)
    outcome = await wired.env.invoke(request(raw=b'"' + b"x" * (8 << 20) + b'"'), TIMEOUT_S)
    assert timed_out(outcome, wired)


async def test_a_streamed_response_nobody_reads_times_out(wired: Wired) -> None:
    class Stuck:
        async def start(self, content_type: str) -> None:
            pass

        async def write(self, chunk: bytes) -> None:
            await anyio.sleep_forever()

    await ready(wired)
    invocation = request()
    rid = invocation.request_id
    wired.from_init({"type": "stream_start", "request_id": rid, "content_type": "text/plain"})
    wired.init.sendall(frame({"type": "stream_chunk"}, b"part"))
    outcome = await wired.env.invoke(invocation, timeout_s=TIMEOUT_S, response=Stuck())
    assert timed_out(outcome, wired)
