"""Several server processes (`--workers N`) each flush their own recorders into one
store: what they write must add up, never overwrite or collide.

Each "process" here is a recorder with its own engine (its own connections, as a
process has), and their flushes run at the same time in worker threads, so the
database sees concurrent writers as it does with several processes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import sqlalchemy as sa

from lambdad.cost import UsageRecorder
from lambdad.cost.recorder import utc_day
from lambdad.settings import Settings
from lambdad.store import LogStore, MetricStore, NewChunk, UsageStore, create_engine, migrate
from lambdad.store import logs as store_logs
from lambdad.store.database import DatabaseError
from lambdad.store.traces import TraceStore
from lambdad.telemetry import FunctionLogs, MetricsRecorder
from lambdad.telemetry.tracing import Tracing
from support.catalog import make_version
from support.waiting import wait_until_async

pytestmark = pytest.mark.anyio

REGION = "us-east-1"
PROCESSES = 2
ROUNDS = 5


@pytest.fixture
def engines(own_database_url: str | None, tmp_path: Path) -> Iterator[list[sa.Engine]]:
    """One migrated database, and an engine of its own for each process and the reader."""
    url = Settings(data_dir=tmp_path, database_url=own_database_url).sqlalchemy_url
    made = [create_engine(url) for _ in range(PROCESSES + 1)]
    migrate(made[0])
    try:
        yield made
    finally:
        for engine in made:
            engine.dispose()


async def at_once(flushes: list[Callable[[], Coroutine[None, None, None]]]) -> None:
    async with anyio.create_task_group() as tasks:
        for flush in flushes:
            tasks.start_soon(flush)


async def test_metric_minutes_add_up(engines: list[sa.Engine]) -> None:
    minute = 1_700_000_040.0
    recorders = [MetricsRecorder(MetricStore(e), clock=lambda: minute) for e in engines[1:]]
    for round_ in range(ROUNDS):
        for i, recorder in enumerate(recorders):
            for _ in range(10 + i):
                recorder.invocation(REGION, "f", None, "$LATEST", 2.0 + round_, error=i == 1)
        await at_once([recorder.flush for recorder in recorders])
    reader = MetricsRecorder(MetricStore(engines[0]), clock=lambda: minute)
    dims = (("FunctionName", "f"),)
    (invocations,) = (await reader.minutes(REGION, "Invocations", dims, 0, 2e9)).values()
    (errors,) = (await reader.minutes(REGION, "Errors", dims, 0, 2e9)).values()
    (durations,) = (await reader.minutes(REGION, "Duration", dims, 0, 2e9)).values()
    assert invocations.total == ROUNDS * (10 + 11)
    assert errors.total == ROUNDS * 11
    assert durations.maximum == 2.0 + ROUNDS - 1 and durations.minimum == 2.0


async def test_usage_groups_add_up(engines: list[sa.Engine]) -> None:
    version = make_version("f")
    recorders = [UsageRecorder(UsageStore(e)) for e in engines[1:]]
    for _ in range(ROUNDS):
        for i, recorder in enumerate(recorders):
            for _ in range(7 + i):
                recorder.record(REGION, version, 100, provisioned=False)
        await at_once([recorder.flush for recorder in recorders])
    day = utc_day(time.time())
    (row,) = UsageStore(engines[0]).usage(day, day)
    assert row.count == ROUNDS * (7 + 8)
    memory_gb = version.config.memory_size / 1024
    assert row.gb_seconds == pytest.approx(ROUNDS * (7 + 8) * 0.1 * memory_gb)


async def test_log_events_add_up_with_ids_and_streams_apart(engines: list[sa.Engine]) -> None:
    writers = [FunctionLogs(LogStore(e)) for e in engines[1:]]
    groups = [f"/aws/lambda/f{n}" for n in range(10)]
    for round_ in range(ROUNDS):
        # Every group's first events come from every process at once: both make its rows.
        for i, logs in enumerate(writers):
            for group in groups:
                await logs.stream(group, f"stream-{i}").write(f"p{i} r{round_}\n".encode())
        await at_once([logs.flush for logs in writers])
    reader = FunctionLogs(LogStore(engines[0]))
    for group in groups:
        events = await reader.read(group, 0, 10_000)
        assert sorted(e.message for e in events) == sorted(
            f"p{i} r{r}" for i in range(PROCESSES) for r in range(ROUNDS)
        )
        assert len({e.id for e in events}) == len(events)
        assert sorted(reader.store.streams(group)) == [f"stream-{i}" for i in range(PROCESSES)]
    with engines[0].connect() as conn:
        rows = conn.execute(sa.text("SELECT count(*) FROM log_groups")).scalar_one()
    assert rows == len(groups)


async def test_trace_segments_add_up(engines: list[sa.Engine]) -> None:
    tracings = [Tracing(TraceStore(e)) for e in engines[1:]]
    arn = make_version("f").function_arn
    for _ in range(ROUNDS):
        for i, tracing in enumerate(tracings):
            for n in range(4):
                traced = tracing.start(
                    "Active",
                    "",
                    function_name="f",
                    function_arn=arn,
                    region=REGION,
                    request_id=f"r{i}-{n}",
                    started=time.time(),
                )
                assert traced is not None
                traced.invoking()
                tracing.finished(traced, traced.end())
        await at_once([tracing.flush for tracing in tracings])
    reader = Tracing(TraceStore(engines[0]))
    segments = await reader.segments_in_range(REGION, 0, 2e9, 10_000)
    assert len(segments) == len({s.id for s in segments}) == ROUNDS * PROCESSES * 4


class FailingOnce:
    """Makes a store's `method` fail its first call as a locked database does."""

    def __init__(self, store: object, method: str) -> None:
        self.failed = False
        original = getattr(store, method)

        def fail_once(*args: Any, **kwargs: Any) -> Any:
            if not self.failed:
                self.failed = True
                raise DatabaseError("Database error: OperationalError")
            return original(*args, **kwargs)

        setattr(store, method, fail_once)


async def test_usage_that_failed_to_write_is_written_by_the_next_flush(
    engines: list[sa.Engine],
) -> None:
    store = UsageStore(engines[1])
    FailingOnce(store, "add")
    recorder = UsageRecorder(store)
    version = make_version("f")
    for _ in range(3):
        recorder.record(REGION, version, 100, provisioned=False)
    with pytest.raises(DatabaseError):
        await recorder.flush()
    recorder.record(REGION, version, 100, provisioned=False)
    await recorder.flush()
    day = utc_day(time.time())
    (row,) = UsageStore(engines[0]).usage(day, day)
    assert row.count == 4


async def test_log_events_that_failed_to_write_are_written_again(
    engines: list[sa.Engine],
) -> None:
    store = LogStore(engines[1])
    failing = FailingOnce(store, "append")
    logs = FunctionLogs(store, linger_s=0.0)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(logs.run)
        await logs.stream("/aws/lambda/f", "s").write(b"kept\n")
        reader = LogStore(engines[0])
        await wait_until_async(lambda: reader.events("/aws/lambda/f"), "the events stored")
        tasks.cancel_scope.cancel()
    assert failing.failed
    assert [e.message for e in reader.events("/aws/lambda/f")] == ["kept"]


async def test_a_group_made_by_two_processes_at_once_is_made_once(
    engines: list[sa.Engine],
) -> None:
    stores = [LogStore(e) for e in engines[1:]]
    made: list[bool] = []

    async def create(store: LogStore, group: str) -> None:
        made.append(await anyio.to_thread.run_sync(store.create_group, group, 1000))

    for n in range(10):
        async with anyio.create_task_group() as tasks:
            for store in stores:
                tasks.start_soon(create, store, f"/made/{n}")
    assert sorted(made) == [False] * 10 + [True] * 10


async def test_a_group_deleted_by_another_process_comes_back_with_the_next_events(
    engines: list[sa.Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    writer, primary = LogStore(engines[1]), LogStore(engines[0])
    group = "/aws/lambda/f"
    writer.append([NewChunk(group, "s", [(1000, 1)], b"before")])
    assert primary.delete_group(group)  # DeleteLogGroup, served by the primary
    monkeypatch.setattr(store_logs, "KNOWN_FOR_S", 0.0)  # the writer's cache lapsed
    writer.append([NewChunk(group, "s", [(2000, 1)], b"after")])
    assert primary.streams(group) == ["s"]
    assert [e.message for e in primary.events(group)] == ["after"]
