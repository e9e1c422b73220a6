"""What recording metrics costs an invocation: CPU per warm invoke, in process.

    .venv/bin/python bench/metrics_overhead.py [-n 20000] [--rounds 5]

`Invoker.invoke` on the warm path with in-memory stand-ins for the pool's
environment and the log store (their own cost is not what is measured), timed
with the process's CPU clock, in alternating rounds:

1. baseline: a recorder whose methods do nothing (counter-free);
2. metrics on: lambdad's `MetricsRecorder` (per-minute aggregates for every
   dimension set, Prometheus totals, concurrency samples), for an alias invoke
   (the most dimension sets: four);
3. the recorder alone: `invocation` + `concurrency` calls without the invoker;
4. metrics on and the function's TracingConfig Active: its spans made and its
   segment kept (no exporter: what the OTLP exporter's thread costs is not here).

The flush to the store is once a minute off the request path, so not timed here.
Prints a Markdown table; nothing is written to bench/RESULTS.md by this script.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import time
from typing import Any, cast

from lambdad.catalog import (
    Account,
    Catalog,
    FunctionConfig,
    FunctionState,
    LastUpdateStatus,
    Version,
)
from lambdad.invoke.concurrency import ConcurrencyLimiter
from lambdad.invoke.invoker import Invoker
from lambdad.invoke.version_cache import Resolved
from lambdad.pool import EnvironmentPool, ExecutionEnvironment
from lambdad.runtimes import InvokeOutcome
from lambdad.telemetry import FunctionLogs, MetricsRecorder

OK = InvokeOutcome(
    payload=b"{}",
    function_error=None,
    error_type=None,
    logs=b"",
    duration_ms=1.5,
    max_memory_used_mb=30,
    reusable=True,
)


class Environment:
    init_duration_ms = 1.0
    phases = {"sandbox": 1.0, "runtime start and Init": 1.0}
    init_logs = b""
    init_error = None
    backend_name = "bench"

    async def invoke(self, *args: Any, **kwargs: Any) -> InvokeOutcome:
        return OK

    async def freeze(self) -> None:
        pass

    async def destroy(self, reason: str) -> None:
        pass


class Stream:
    async def platform(self, *lines: str) -> None:
        pass

    def tail(self) -> bytes:
        return b""


class Logs:
    def stream(self, group: str, stream: str) -> Stream:
        return Stream()


class Catalogue:
    def on_change(self, callback: Any) -> None:
        pass


class NoMetrics(MetricsRecorder):
    """The counter-free baseline."""

    def invocation(self, *args: Any, **kwargs: Any) -> None:
        pass

    def throttle(self, *args: Any, **kwargs: Any) -> None:
        pass

    def concurrency(self, *args: Any, **kwargs: Any) -> None:
        pass

    def provisioned(self, *args: Any, **kwargs: Any) -> None:
        pass

    def cold_start(self, *args: Any, **kwargs: Any) -> None:
        pass


def version() -> Version:
    return Version(
        function_name="orders",
        version="3",
        function_arn="arn:aws:lambda:us-east-1:000000000000:function:orders",
        config=FunctionConfig(runtime="python3.12", handler="app.handler", role="r"),
        code_sha256="x",
        code_key="k",
        code_size=1,
        revision_id="r1",
        last_modified=0.0,
        state=FunctionState.ACTIVE,
        last_update_status=LastUpdateStatus.SUCCESSFUL,
    )


def invoker(metrics: MetricsRecorder) -> Invoker:
    environment = Environment()

    async def start(v: Version, env_id: str, stream: str) -> ExecutionEnvironment:
        return cast(ExecutionEnvironment, environment)

    pool = EnvironmentPool(start, lambda v: f"stream-{v}", 600.0)
    return Invoker(
        Account("us-east-1", "000000000000"),
        cast(Catalog, Catalogue()),
        pool,
        ConcurrencyLimiter(1000),
        cast(FunctionLogs, Logs()),
        metrics=metrics,
    )


async def cpu_per_invoke(metrics: MetricsRecorder, n: int, mode: str = "PassThrough") -> float:
    """CPU microseconds per warm alias invoke."""
    v = version()
    v = dataclasses.replace(v, config=dataclasses.replace(v.config, tracing_mode=mode))
    target = Resolved(v, None, qualifier="live")
    subject = invoker(metrics)
    await subject.invoke(target, b"{}", request_id="warm", trace_id="Root=1-0-0")
    started = time.process_time()
    for i in range(n):
        await subject.invoke(target, b"{}", request_id=str(i), trace_id="Root=1-0-0")
        subject.tracing._pending.clear()  # the store's batch: not what is measured
    return (time.process_time() - started) / n * 1e6


def recorder_alone(n: int) -> float:
    metrics = MetricsRecorder()
    started = time.process_time()
    for _ in range(n):
        metrics.concurrency("us-east-1", "orders", 1, 1, 1)
        metrics.invocation("us-east-1", "orders", "live", "3", 1.5, error=False)
    return (time.process_time() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    base: list[float] = []
    on: list[float] = []
    alone: list[float] = []
    traced: list[float] = []
    for _ in range(args.rounds):
        base.append(asyncio.run(cpu_per_invoke(NoMetrics(), args.n)))
        on.append(asyncio.run(cpu_per_invoke(MetricsRecorder(), args.n)))
        alone.append(recorder_alone(args.n))
        traced.append(asyncio.run(cpu_per_invoke(MetricsRecorder(), args.n, "Active")))
    best_base, best_on = min(base), min(on)
    print(f"n={args.n} invokes x {args.rounds} rounds (best round), CPU time per invoke\n")
    print("| in-process warm alias invoke | CPU µs / invoke |")
    print("|---|---:|")
    print(f"| baseline (counter-free recorder) | {best_base:.1f} |")
    print(f"| metrics on | {best_on:.1f} |")
    print(f"| difference | {best_on - best_base:.1f} |")
    print(f"| the recorder's calls alone | {min(alone):.1f} |")
    print(f"| metrics on, TracingConfig Active (spans, no exporter) | {min(traced):.1f} |")


if __name__ == "__main__":
    main()
