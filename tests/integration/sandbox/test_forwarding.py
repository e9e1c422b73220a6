"""Forwards: a sandbox in mode none reaches exactly the host addresses it was given."""

from __future__ import annotations

import json
import os
import socket
import sys
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from lambdad.sandbox import BwrapBackend, Mount, SandboxSpec
from lambdad.sandbox.base import Forward
from lambdad.sandbox.forwarding import PortForwarder
from support.marks import needs_sandbox

pytestmark = [pytest.mark.integration, pytest.mark.anyio, *needs_sandbox]

PYTHON = os.path.realpath(sys.executable)
PREFIX = Path(sys.base_prefix)


@pytest.fixture
async def forwarder() -> AsyncIterator[PortForwarder]:
    f = PortForwarder(max_connections=2)
    async with anyio.create_task_group() as group:
        await group.start(f.run)
        yield f
        group.cancel_scope.cancel()


@pytest.fixture
async def backend(tmp_path: Path, forwarder: PortForwarder) -> AsyncIterator[BwrapBackend]:
    b = BwrapBackend(state_dir=tmp_path / "state", spares=0, forwarder=forwarder)
    yield b
    await b.close()


@pytest.fixture
async def echo_servers() -> AsyncIterator[tuple[int, int]]:
    """Two loopback echo servers; only the first is forwarded in these tests."""
    listeners = [await anyio.create_tcp_listener(local_host="127.0.0.1") for _ in range(2)]

    async def answer(stream: Any) -> None:
        async with stream:
            data = await stream.receive()
            port = stream.extra(anyio.abc.SocketAttribute.local_port)
            await stream.send(f"{port}:".encode() + data)

    async with anyio.create_task_group() as group:
        for listener in listeners:
            group.start_soon(listener.serve, answer)
        ports = [ls.extra(anyio.abc.SocketAttribute.local_port) for ls in listeners]
        yield ports[0], ports[1]
        group.cancel_scope.cancel()


def spec(tmp_path: Path, script: str, out: Any, **kw: Any) -> SandboxSpec:
    return SandboxSpec(
        sandbox_id="fw",
        argv=(PYTHON, "-I", "-S", "-c", textwrap.dedent(script)),
        env={},
        mounts=(Mount(PREFIX, str(PREFIX)),),
        memory_mb=128,
        ephemeral_storage_mb=16,
        work_dir=tmp_path / "work",
        stdout_fd=out.fileno(),
        cwd="/",
        **kw,
    )


PROBE = """
import json, socket
def ask(port):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"hi")
        s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(100):
            data += chunk
        return data.decode()
    except OSError as e:
        return type(e).__name__
print(json.dumps({"forwarded": ask(8123), "other": ask(%d), "direct": ask(%d)}))
"""


@pytest.fixture
def out_file(tmp_path: Path) -> Iterator[Any]:
    with open(tmp_path / "out.txt", "w+b") as f:
        yield f


async def test_only_the_forwarded_port_reaches_the_host(
    backend: BwrapBackend, tmp_path: Path, echo_servers: tuple[int, int], out_file: Any
) -> None:
    allowed, other = echo_servers
    script = PROBE % (other, allowed)
    sb = await backend.start(
        spec(tmp_path, script, out_file, forwards=(Forward(8123, "127.0.0.1", allowed),))
    )
    with anyio.fail_after(30):
        status = await sb.wait()
    await sb.destroy("done")
    assert status.returncode == 0, out_file.name
    result = json.loads(Path(out_file.name).read_text())
    # Inside, 8123 leads to the allowed server; the other host port, and the allowed
    # one under its own number, are on the host's loopback, which is not this one.
    assert result["forwarded"] == f"{allowed}:hi"
    assert result["other"] == "ConnectionRefusedError"
    assert result["direct"] == "ConnectionRefusedError"


async def test_connections_beyond_the_limit_are_closed(
    backend: BwrapBackend, tmp_path: Path, out_file: Any
) -> None:
    # A target that accepts and never answers holds the relayed connections open.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    script = """
    import json, select, socket
    held = [socket.create_connection(("127.0.0.1", 8123), timeout=5) for _ in range(3)]
    ready, _, _ = select.select(held, [], [], 30)  # the first to be closed
    print(json.dumps(["closed" if s in ready and s.recv(1) == b"" else "open" for s in held]))
    """
    try:
        sb = await backend.start(
            spec(
                tmp_path,
                script,
                out_file,
                forwards=(Forward(8123, "127.0.0.1", silent.getsockname()[1]),),
            )
        )
        with anyio.fail_after(60):
            status = await sb.wait()
        await sb.destroy("done")
    finally:
        silent.close()
    assert status.returncode == 0
    results = json.loads(Path(out_file.name).read_text())
    # max_connections=2: two stay open, the one over the limit is closed by the relay.
    assert sorted(results) == ["closed", "open", "open"]
