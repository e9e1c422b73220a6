"""An invocation waiting in line for a busy environment (`pool/queueing.py`) is an
invocation in flight: it holds its unit of concurrency; and one nested in its own
function's chain of events never waits for the environments that may wait for it."""

from __future__ import annotations

import time
from typing import cast

import anyio
import pytest

from lambdad.catalog import Account, Catalog, Version
from lambdad.errors import Throttled
from lambdad.invoke import recursion
from lambdad.invoke.concurrency import ConcurrencyLimiter
from lambdad.invoke.invoker import Invoker
from lambdad.invoke.version_cache import Resolved
from lambdad.pool import EnvironmentPool, ExecutionEnvironment
from lambdad.runtimes import InvokeOutcome, InvokeRequest
from lambdad.telemetry import FunctionLogs
from support.catalog import make_version
from support.waiting import wait_until_async
from unit.invoke.test_invoker_release import OK, FakeCatalog, FakeEnvironment, QuietLogs

pytestmark = pytest.mark.anyio


class GatedEnvironment(FakeEnvironment):
    """An environment whose invocations end when the gate opens."""

    frozen = False

    def __init__(self, gate: anyio.Event) -> None:
        super().__init__(OK)
        self.gate = gate
        self.invoked = 0

    def cpu_throttles(self) -> int:
        return 0

    async def invoke(
        self,
        request: InvokeRequest,
        timeout_s: float,
        output: object = None,
        response: object = None,
    ) -> InvokeOutcome:
        self.invoked += 1
        await self.gate.wait()
        return OK


def make(gate: anyio.Event) -> tuple[Invoker, EnvironmentPool, list[GatedEnvironment]]:
    started: list[GatedEnvironment] = []

    async def start(version: Version, env_id: str, stream: str) -> ExecutionEnvironment:
        started.append(GatedEnvironment(gate))
        return cast(ExecutionEnvironment, started[-1])

    pool = EnvironmentPool(start, lambda v: f"stream-{v}", 60.0, queue_wait_max_s=30.0)
    # As if seen lately: 10 ms invocations, 20 s cold starts (waiting is always worth it).
    pool.estimates.invoked(make_version().function_arn, 0.01)
    pool.estimates.started(make_version().function_arn, 20.0)
    invoker = Invoker(
        Account("us-east-1", "000000000000"),
        cast(Catalog, FakeCatalog()),
        pool,
        ConcurrencyLimiter(10),
        cast(FunctionLogs, QuietLogs()),
    )
    return invoker, pool, started


async def test_a_waiting_invocation_holds_its_concurrency() -> None:
    gate = anyio.Event()
    invoker, pool, started = make(gate)
    target = Resolved(make_version(), reserved_concurrency=2)
    async with anyio.create_task_group() as group:
        group.start_soon(invoker.invoke, target, b"{}")
        await wait_until_async(lambda: started and started[0].invoked, "the first invocation")
        group.start_soon(invoker.invoke, target, b"{}")
        await wait_until_async(lambda: pool.waiting() == 1, "the second one waiting in line")
        with pytest.raises(Throttled):  # 2 in flight: one running, one waiting
            await invoker.invoke(target, b"{}")
        gate.set()
    assert len(started) == 1 and started[0].invoked == 2
    assert invoker.limiter.total == 0


async def test_an_invocation_nested_in_its_own_chain_never_waits_in_line() -> None:
    gate = anyio.Event()
    invoker, pool, started = make(gate)
    target = Resolved(make_version(), reserved_concurrency=None)
    key = recursion.function_key(target.version.function_arn)
    nested = f"Root=1-{int(time.time()):08x}-{'0' * 24};Lineage={key}:1"
    async with anyio.create_task_group() as group:
        group.start_soon(invoker.invoke, target, b"{}")
        await wait_until_async(lambda: started and started[0].invoked, "the first invocation")
        group.start_soon(lambda: invoker.invoke(target, b"{}", trace_id=nested))
        await wait_until_async(lambda: len(started) == 2, "a cold start for the nested one")
        assert pool.waiting() == 0
        gate.set()
