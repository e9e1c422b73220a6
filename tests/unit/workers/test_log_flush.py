"""A primary's read of log events sees what a secondary's writer still held: the read
asks every secondary to flush over the change bus first (`FunctionLogs.flush_others_with`,
`ChangeBus.flush_logs`, the secondary's `change_applier`)."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from lambdad.settings import Settings
from lambdad.store import LogStore, create_engine, migrate
from lambdad.telemetry import FunctionLogs
from lambdad.workers.bus import BusClient, ChangeBus
from lambdad.workers.secondary import change_applier
from support.waiting import wait_until_async

pytestmark = pytest.mark.anyio

GROUP = "/aws/lambda/f"
NOT_USED: Any = None
"""The catalog, concurrency settings, role sessions and metrics: a flush reads none of them."""


@asynccontextmanager
async def primary_and_secondary(
    data_dir: Path, stuck: list[int]
) -> AsyncIterator[tuple[FunctionLogs, FunctionLogs]]:
    """Two processes' log writers on one store (an engine each), the secondary's on
    the primary's change bus; no writer loop runs, so only a flush stores events."""
    url = Settings(data_dir=data_dir).sqlalchemy_url
    engines = [create_engine(url) for _ in range(2)]
    migrate(engines[0])
    primary, secondary = (FunctionLogs(LogStore(engine)) for engine in engines)
    with tempfile.TemporaryDirectory(prefix="lambdad-bus-") as run_dir:
        bus = ChangeBus(str(Path(run_dir) / "bus.sock"), lambda worker, _pid: stuck.append(worker))
        primary.flush_others_with(bus.flush_logs)
        apply = change_applier(NOT_USED, NOT_USED, NOT_USED, secondary, NOT_USED)
        try:
            async with anyio.create_task_group() as group:
                await group.start(bus.serve)
                await group.start(BusClient(bus.socket_path, 1, 1001, apply).run)
                await wait_until_async(lambda: bool(bus.connected()), "the hello", 10)
                yield primary, secondary
                group.cancel_scope.cancel()
        finally:
            for engine in engines:
                engine.dispose()


async def test_a_read_in_the_primary_sees_the_events_a_secondary_has_not_stored_yet(
    tmp_path: Path,
) -> None:
    stuck: list[int] = []
    async with primary_and_secondary(tmp_path, stuck) as (primary, secondary):
        await secondary.stream(GROUP, "s1").write(b"ran in the secondary\n")
        await primary.stream(GROUP, "s0").write(b"ran in the primary\n")
        with anyio.fail_after(10):
            events = await primary.read(GROUP)
        assert sorted(e.message for e in events) == ["ran in the primary", "ran in the secondary"]
        # Every way in reads after the flush: the last id, a tail's start.
        await secondary.stream(GROUP, "s1").write(b"and again\n")
        assert await primary.last_id(GROUP) > max(e.id for e in events)
    assert stuck == []


async def test_a_read_with_no_secondary_connected_reads_at_once(tmp_path: Path) -> None:
    engine = create_engine(Settings(data_dir=tmp_path).sqlalchemy_url)
    migrate(engine)
    logs = FunctionLogs(LogStore(engine))
    bus = ChangeBus(str(tmp_path / "bus.sock"), lambda _worker, _pid: None)
    logs.flush_others_with(bus.flush_logs)  # not serving: nobody to ask
    await logs.stream(GROUP, "s0").write(b"alone\n")
    with anyio.fail_after(5):
        assert [e.message for e in await logs.read(GROUP)] == ["alone"]
    engine.dispose()
