"""The primary's scrape over the change bus: every secondary's counters and
environments added to its own, counters monotonic across a secondary's restart, and
the scrape's thread asking the event loop; before a CloudWatch query, what the
secondaries recorded is stored."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest
from anyio.abc import TaskGroup

from lambdad.telemetry.metrics import MetricsRecorder
from lambdad.telemetry.prometheus import LambdaCollector
from lambdad.telemetry.scrape import Gauge, Scrape
from lambdad.workers.bus import BusClient, ChangeBus
from lambdad.workers.metrics import MetricsOfSecondaries, SecondaryMetrics
from lambdad.workers.secondary import change_applier
from support.waiting import wait_until_async

pytestmark = pytest.mark.anyio

NOT_USED: Any = None
"""The catalog, concurrency settings, role sessions and logs: a scrape reads none."""


class Process:
    """A server process's recorder and its environments gauge."""

    def __init__(self, store: Any = None) -> None:
        self.recorder = MetricsRecorder(store, lambda: 600.0)
        self.environments = 0.0
        self.collector = LambdaCollector(self.recorder, self.gauges)

    def gauges(self) -> list[Gauge]:
        samples = [(["us-east-1", "fn", "frozen"], self.environments)]
        return [Gauge("lambdad_environments", "", ["region", "function_name", "state"], samples)]

    def invoked(self, times: int) -> None:
        for _ in range(times):
            self.recorder.invocation("us-east-1", "fn", None, "$LATEST", 2.0, error=False)


@asynccontextmanager
async def cluster() -> AsyncIterator[tuple[ChangeBus, TaskGroup]]:
    with tempfile.TemporaryDirectory(prefix="lambdad-bus-") as run_dir:
        bus = ChangeBus(str(Path(run_dir) / "bus.sock"), lambda _w, _p: None)
        async with anyio.create_task_group() as group:
            await group.start(bus.serve)
            yield bus, group
            group.cancel_scope.cancel()


async def join(
    group: TaskGroup, bus: ChangeBus, worker: int, pid: int, process: Process
) -> anyio.CancelScope:
    """`process` as secondary `worker` (pid `pid`) on the bus; cancel the scope to end it."""
    apply = change_applier(
        NOT_USED, NOT_USED, NOT_USED, NOT_USED, SecondaryMetrics(worker, pid, process.collector)
    )
    scope = anyio.CancelScope()

    async def run() -> None:
        with scope:
            await BusClient(bus.socket_path, worker, pid, apply).run()

    group.start_soon(run)
    await wait_until_async(lambda: bus.connected().get(worker) == pid, "the hello", 10)
    return scope


def invocations(scrapes: list[Scrape]) -> int:
    return sum(t.invocations for s in scrapes for t in s.totals.values())


def environments(scrapes: list[Scrape]) -> float:
    return sum(v for s in scrapes for g in s.gauges for _, v in g.samples)


async def test_a_scrape_in_its_thread_adds_every_secondary() -> None:
    async with cluster() as (bus, group):
        primary = Process()
        others = MetricsOfSecondaries(bus, primary.collector)
        others.start()
        one, two = Process(), Process()
        one.invoked(2)
        two.invoked(3)
        one.environments, two.environments = 1, 2
        await join(group, bus, 1, 1001, one)
        await join(group, bus, 2, 1002, two)
        primary.invoked(1)
        scrapes = await anyio.to_thread.run_sync(others.scrapes)  # as run_sync(exposition) does
        assert invocations(scrapes) == 5 and environments(scrapes) == 3
        text = await anyio.to_thread.run_sync(lambda: list(primary.collector.collect()))
        [family] = [f for f in text if f.name == "lambda_invocations"]
        assert [s.value for s in family.samples if s.name.endswith("_total")] == [6]


async def test_counters_stay_monotonic_across_a_restart_and_a_silent_secondary() -> None:
    async with cluster() as (bus, group):
        others = MetricsOfSecondaries(bus, Process().collector)
        first = Process()
        first.invoked(4)
        first.environments = 2
        ended = await join(group, bus, 1, 1001, first)
        assert invocations(await others.ask()) == 4
        ended.cancel()  # it died ...
        await wait_until_async(lambda: not bus.connected(), "the end", 10)
        silent = await others.ask()
        assert invocations(silent) == 4  # what it counted still counts
        assert environments(silent) == 0  # its environments are gone
        replacement = Process()
        replacement.invoked(1)
        await join(group, bus, 1, 1002, replacement)  # ... and was started again
        assert invocations(await others.ask()) == 5
        replacement.invoked(1)
        assert invocations(await others.ask()) == 6


class Rows:
    """A metric store that keeps the rows it is given."""

    def __init__(self) -> None:
        self.rows: list[Any] = []

    def add(self, rows: list[Any], expire_before: float) -> None:
        self.rows += rows


async def test_a_cloudwatch_query_in_the_primary_first_has_the_secondaries_store() -> None:
    async with cluster() as (bus, group):
        primary, store = Process(), Rows()
        primary.recorder.flush_others_with(bus.flush_metrics)
        secondary = Process(store)
        secondary.invoked(3)
        await join(group, bus, 1, 1001, secondary)
        assert store.rows == []
        await primary.recorder.store_others()
        invoked = [r for r in store.rows if r.metric_name == "Invocations" and not r.dimensions]
        assert [r.sample_count for r in invoked] == [3]
