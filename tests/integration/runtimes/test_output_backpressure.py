"""A sink that stops taking output stops the function's write(), and nothing piles
up on the way: init, the channel and the environment hold only bounded buffers."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from lambdad.pool.environment import ExecutionEnvironment
from support.envkit import SubprocessBackend, make_spec, request

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

FLOOD = """
import os

def handler(event, context):
    with open(event["pid_file"], "w") as f:
        f.write(str(os.getpid()))
    block = (b"x" * 1023 + b"\\n") * 64
    for _ in range(event["blocks"]):
        view = memoryview(block)
        while view:
            view = view[os.write(1, view):]
    return {"done": True}
"""
GATE_BYTES = 1 << 20


class GatedSink:
    """Takes the first MB of output, then nothing until the gate opens."""

    def __init__(self) -> None:
        self.gate = anyio.Event()
        self.received = 0
        self.blocked = False

    async def write(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self.received > GATE_BYTES and not self.gate.is_set():
            self.blocked = True
            await self.gate.wait()

    async def end(self) -> None:
        pass


def _wchan(pid_file: Path) -> str:
    try:
        return Path(f"/proc/{int(pid_file.read_text())}/wchan").read_text()
    except (FileNotFoundError, ValueError):
        return ""


async def test_a_blocked_sink_blocks_the_function_write(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, {"app.py": FLOOD}, network="host")
    env = await ExecutionEnvironment.start(spec, SubprocessBackend())
    sink = GatedSink()
    pid_file = tmp_path / "pid"
    outcome = None
    try:

        async def invoke() -> None:
            nonlocal outcome
            event = {"blocks": 256, "pid_file": str(pid_file)}  # 16 MB
            outcome = await env.invoke(request(event), 60, output=sink)

        async with anyio.create_task_group() as group:
            group.start_soon(invoke)
            with anyio.fail_after(20):
                while not (sink.blocked and "pipe_write" in _wchan(pid_file)):
                    await anyio.sleep(0.02)
            # The function waits in write(); what left it is the sink's MB plus
            # the pipe's and the channel's kernel buffers.
            assert sink.received <= GATE_BYTES + (64 << 10)  # one 64 KB relay piece past it
            assert outcome is None
            sink.gate.set()
        assert outcome is not None and outcome.payload == b'{"done": true}'
        assert sink.received == 256 * 64 * 1024
        assert len(outcome.logs) <= 16384  # the environment keeps only a bounded tail
    finally:
        await env.destroy("test over")
