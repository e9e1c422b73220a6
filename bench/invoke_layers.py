"""CPU per warm invoke of the server's layers below the API, each alone, in-process.

Two layers, each driven back to back on a uvloop loop (as the server runs):

- `invoker`: `Invoker.invoke` of a warm environment that answers at once (no
  sandbox), with the real pool, concurrency limiter, function logs (their writer
  storing into SQLite), metrics, usage recorder and trace header handling.
- `environment`: `ExecutionEnvironment.invoke` over a real direct link
  (`runtimes/direct.py`) to a stand-in runtime process that answers each event
  (no sandbox, no cgroup).

The CPU is this process's (`time.process_time`: the loop thread and the writers'
threads; the stand-in runtime is another process), per invoke, the best of
`--reps` runs of `-n` invokes. Far steadier than a whole server's numbers on a busy
machine, so it shows what a change to these layers takes off; the server's total
is `cpu_ab.py`'s.

    .venv/bin/python bench/invoke_layers.py [invoker|environment] [-n 3000] [--reps 5]
    other-tree/.venv/bin/python bench/invoke_layers.py ...   # that tree's code

Uses the test suite's fakes (`tests/support`). Prints one line per layer.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import anyio
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from lambdad.background import keep_running
from lambdad.catalog import Account, Catalog, Version
from lambdad.cost import UsageRecorder
from lambdad.invoke.concurrency import ConcurrencyLimiter
from lambdad.invoke.invoker import Invoker
from lambdad.invoke.version_cache import Resolved
from lambdad.pool import EnvironmentPool, ExecutionEnvironment
from lambdad.runtimes import InvokeOutcome, InvokeRequest
from lambdad.runtimes.direct import DirectLink
from lambdad.store import LogStore, MetricStore, UsageStore, create_engine, migrate
from lambdad.telemetry import FunctionLogs, MetricsRecorder
from support.catalog import make_version
from support.envkit import FakeSandbox, make_spec, request

WARMUP = 500
OK = InvokeOutcome(
    payload=b'{"hello": "world"}',
    function_error=None,
    error_type=None,
    logs=b"",
    duration_ms=0.5,
    max_memory_used_mb=11,
    reusable=True,
)

# The stand-in runtime: the private protocol's answer to each event, as the built-in
# Python runtime sends it (its response, then its next ask).
RUNTIME = r"""
import json, socket, struct, sys
link = socket.socket(fileno=int(sys.argv[1]))
prefix = struct.Struct(">II")
def frame(header, body=b""):
    raw = json.dumps(header).encode()
    return prefix.pack(len(raw), len(body)) + raw + body
link.sendall(frame({"type": "next"}))
buf = b""
while True:
    while len(buf) < 8 or len(buf) < 8 + sum(prefix.unpack_from(buf)):
        data = link.recv(1 << 18)
        if not data:
            sys.exit(0)
        buf += data
    size, body = prefix.unpack_from(buf)
    header = json.loads(buf[8 : 8 + size])
    buf = buf[8 + size + body :]
    answer = frame({"type": "response", "request_id": header["request_id"]}, b'{"hello": "world"}')
    link.sendall(answer + frame({"type": "next"}))
"""


class AnsweringEnvironment:
    """A warm environment that answers at once, after one trip through the loop."""

    init_duration_ms = 1.0
    from_snapshot = False
    phases = {"sandbox": 1.0}
    init_logs = b""
    init_error = None
    backend_name = "fake"
    frozen = False

    async def invoke(
        self, request: InvokeRequest, timeout_s: float, output: Any = None, response: Any = None
    ) -> InvokeOutcome:
        await asyncio.sleep(0)
        await output.end()
        return OK

    async def freeze(self, still_wanted: Any = None) -> None:
        pass

    async def destroy(self, reason: str) -> None:
        pass


class CatalogStub:
    def on_change(self, listener: Any) -> None:
        pass


def best_of(reps: int, n: int, run: Callable[[int], Awaitable[None]]) -> Awaitable[float]:
    async def measure() -> float:
        best = float("inf")
        for _ in range(reps):
            began = time.process_time()
            await run(n)
            best = min(best, (time.process_time() - began) / n * 1e6)
        return best

    return measure()


async def invoker_layer(n: int, reps: int) -> float:
    engine = create_engine(f"sqlite:///{scratch_dir()}/db.sqlite")
    migrate(engine)
    environment = AnsweringEnvironment()

    async def start(version: Version, env_id: str, stream: str) -> ExecutionEnvironment:
        return cast(ExecutionEnvironment, environment)

    pool = EnvironmentPool(
        start, lambda v: f"stream-{v}", 600.0, freeze_after_s=0.25, queue_wait_max_s=1.0
    )
    logs = FunctionLogs(LogStore(engine, "us-east-1"))
    usage = UsageRecorder(UsageStore(engine))
    invoker = Invoker(
        Account("us-east-1", "000000000000"),
        cast(Catalog, CatalogStub()),
        pool,
        ConcurrencyLimiter(1000),
        logs,
        metrics=MetricsRecorder(MetricStore(engine)),
        usage=usage.record,
    )
    target = Resolved(make_version(), None)

    async def no_targets() -> list[Any]:
        return []

    async def run(count: int) -> None:
        for _ in range(count):
            await invoker.invoke(target, b"{}")

    async with anyio.create_task_group() as background:
        background.start_soon(keep_running, logs.run)
        background.start_soon(keep_running, pool.run_freezer)
        background.start_soon(keep_running, usage.run, no_targets)
        await run(WARMUP)
        best = await best_of(reps, n, run)
        background.cancel_scope.cancel()
    return best


async def environment_layer(n: int, reps: int) -> float:
    env = ExecutionEnvironment(make_spec(scratch_dir(), {"app.py": ""}), "fake")
    host, runtime = socket.socketpair()
    init_host, init_runtime = socket.socketpair()
    output_r, output_w = os.pipe()
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNTIME, str(runtime.fileno())], pass_fds=[runtime.fileno()]
    )
    runtime.close()
    env._sandbox = FakeSandbox()
    env._direct = DirectLink(host, init_host, output_r)
    try:
        await env._await_init(10.0)

        async def run(count: int) -> None:
            for invocation in [request() for _ in range(count)]:
                outcome = await env.invoke(invocation, 10.0)
                assert outcome.reusable, outcome

        await run(WARMUP)
        return await best_of(reps, n, run)
    finally:
        env._direct.close()
        init_runtime.close()
        os.close(output_w)
        proc.kill()
        proc.wait()


LAYERS = {"invoker": invoker_layer, "environment": environment_layer}
SCRATCH = tempfile.TemporaryDirectory(prefix="lambdad-bench-layers-")


def scratch_dir() -> Path:
    """A new directory under the run's scratch dir, removed when the run ends."""
    return Path(tempfile.mkdtemp(dir=SCRATCH.name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("layers", nargs="*", choices=[[], *LAYERS], help="default: both")
    parser.add_argument("-n", type=int, default=3000, help="invokes per run")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    for layer in args.layers or list(LAYERS):
        best = uvloop.run(LAYERS[layer](args.n, args.reps))
        print(f"{layer}: {best:.1f} µs CPU per invoke (best of {args.reps} x {args.n})")
    SCRATCH.cleanup()


if __name__ == "__main__":
    main()
