"""FunctionLogs over a real SQLite store: streams in order, the writer, backpressure,
the size cap and retention."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
import sqlalchemy as sa

from lambdad.errors import InvalidParameterValue
from lambdad.settings import Settings
from lambdad.store import LogStore, create_engine, migrate
from lambdad.telemetry import RETENTION_DAYS, FunctionLogs
from lambdad.telemetry.events import EventBlock
from lambdad.telemetry.live_tail import StreamFilter

pytestmark = pytest.mark.anyio
G = "/aws/lambda/fn"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[sa.Engine]:
    engine = create_engine(Settings(data_dir=tmp_path).sqlalchemy_url)
    migrate(engine)
    try:
        yield engine
    finally:
        engine.dispose()


async def messages(logs: FunctionLogs, group: str = G) -> list[str]:
    return [event.message for event in await logs.read(group, 0, 10_000)]


async def test_output_and_platform_lines_land_in_order(engine: sa.Engine) -> None:
    logs = FunctionLogs(LogStore(engine))
    init = logs.stream(G, "s")
    await init.write(b"importing\npartial")
    await init.end()
    invocation = logs.stream(G, "s")
    await invocation.platform("START RequestId: r1")
    await invocation.write(b"hello\nno newline")
    await invocation.platform("END RequestId: r1", "REPORT RequestId: r1\tDuration: 1 ms\t")
    assert await messages(logs) == [
        "importing",
        "partial",
        "START RequestId: r1",
        "hello",
        "no newline",
        "END RequestId: r1",
        "REPORT RequestId: r1\tDuration: 1 ms\t",
    ]
    assert invocation.tail().startswith(b"START RequestId: r1\nhello\nno newline\nEND")
    assert b"importing" not in invocation.tail()  # Init is not the invocation's tail
    assert await logs.tail_start(G, 2) == (await logs.read(G, 0, 100))[-3].id


async def test_a_full_queue_blocks_the_writer_of_output_until_the_store_catches_up(
    engine: sa.Engine,
) -> None:
    logs = FunctionLogs(LogStore(engine), queue_bytes=64 * 1024)
    stream = logs.stream(G, "s")
    line = b"x" * 1023 + b"\n"
    wrote = 0

    async def function_output() -> None:
        nonlocal wrote
        for _ in range(64):
            await stream.write(line * 16)  # 16 KB a piece, 1 MB in all
            wrote += 1

    async with anyio.create_task_group() as group:
        group.start_soon(function_output)
        await anyio.wait_all_tasks_blocked()
        assert wrote < 8  # no writer yet: the producer waits on the queue
        group.start_soon(logs.run)
        with anyio.fail_after(20):
            while wrote < 64:
                await anyio.sleep(0.01)
        group.cancel_scope.cancel()
    assert len(await messages(logs)) == 64 * 16


async def test_the_size_cap_evicts_the_oldest_events_and_says_so(
    engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    logs = FunctionLogs(LogStore(engine), max_bytes=100_000)
    other = logs.stream("/aws/lambda/other", "s")
    await other.write(b"o" * 999 + b"\n")
    stream = logs.stream(G, "s")
    with caplog.at_level(logging.WARNING, logger="lambdad.telemetry.logs"):
        for n in range(300):
            await stream.write(f"{n:04d}".encode() + b"y" * 995 + b"\n")
            await logs.flush()
    assert logs.store.total_bytes() <= logs.budget < 100_000
    kept = await messages(logs)
    assert kept[-1].startswith("0299") and not kept[0].startswith("0000")
    assert await messages(logs, "/aws/lambda/other") == []
    warnings = [r.getMessage() for r in caplog.records if "evicted" in r.getMessage()]
    assert warnings and "size cap (97.7 KiB)" in warnings[0]
    assert "/aws/lambda/other" in warnings[0]


async def test_retention_is_validated_stored_and_swept(
    engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    logs = FunctionLogs(LogStore(engine), clock=clock)
    with pytest.raises(InvalidParameterValue, match="Value '2' at 'retentionInDays'"):
        await logs.put_retention_policy(G, 2)
    assert await logs.retention_days(G) is None  # never expire by default, as AWS
    await logs.put_retention_policy(G, 1)
    assert await logs.retention_days(G) == 1 and 3653 in RETENTION_DAYS
    await logs.stream(G, "s").write(b"day one\n")
    await logs.stream("/aws/lambda/forever", "s").write(b"kept\n")
    await logs.flush()
    clock.now += 86_400 * 0.5
    assert (await logs.sweep()).events == 0
    await logs.stream(G, "s").write(b"day one and a half\n")
    clock.now += 86_400 * 0.6
    with caplog.at_level(logging.INFO, logger="lambdad.telemetry.logs"):
        assert (await logs.sweep()).events == 1
    assert await messages(logs) == ["day one and a half"]
    assert await messages(logs, "/aws/lambda/forever") == ["kept"]
    assert any("retention deleted 1 events" in r.getMessage() for r in caplog.records)
    await logs.put_retention_policy(G, None)
    assert await logs.retention_days(G) is None


async def test_a_sweep_shrinks_a_store_over_a_lowered_cap(
    engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    roomy = FunctionLogs(LogStore(engine))
    for n in range(50):
        await roomy.stream(G, "s").write(f"{n:04d}".encode() + b"z" * 995 + b"\n")
        await roomy.flush()  # a chunk each: eviction takes whole chunks
    small = FunctionLogs(LogStore(engine), max_bytes=20_000)  # the next server's setting
    with caplog.at_level(logging.WARNING, logger="lambdad.telemetry.logs"):
        await small.sweep()
    assert small.store.total_bytes() <= small.budget
    assert (await messages(small))[-1].startswith("0049")
    assert any("evicted the oldest" in r.getMessage() for r in caplog.records)


async def test_a_flood_of_one_byte_lines_fills_chunks_to_their_id_space(engine: sa.Engine) -> None:
    logs = FunctionLogs(LogStore(engine))
    stream = logs.stream(G, "s")
    for _ in range(3):
        await stream.write(b"x\n" * 40_000)
    await logs.flush()
    with engine.connect() as conn:
        counts = [n for (n,) in conn.execute(sa.text("SELECT event_count FROM log_chunks"))]
    assert sum(counts) == 120_000 and max(counts) <= 1 << 16 and len(counts) >= 2
    events = await logs.read(G, 0, 200_000)
    assert len(events) == 120_000 and len({e.id for e in events}) == 120_000
    assert [e.id for e in events] == sorted(e.id for e in events)


async def test_log_groups_are_regional(engine: sa.Engine) -> None:
    """One group name in two regions is two groups: events, streams and retention."""
    clock = Clock()
    east = FunctionLogs(LogStore(engine, "us-east-1"), clock=clock)
    west = east.in_region("eu-west-1")
    assert west.in_region("us-east-1") is east
    await east.stream(G, "s").write(b"east\n")
    await east.open_output("eu-west-1", G, "w").write(b"west\n")
    assert await messages(east) == ["east"]
    assert await messages(west) == ["west"]
    assert LogStore(engine, "eu-west-1").streams(G) == ["w"]
    await west.put_retention_policy(G, 1)
    assert (await east.retention_days(G), await west.retention_days(G)) == (None, 1)
    clock.now += 2 * 86_400
    removed = await east.sweep()  # the sweep is the server's: it reaches every region
    assert removed.events == 1
    assert await messages(west) == [] and await messages(east) == ["east"]


class Published:
    def __init__(self) -> None:
        self.blocks: list[tuple[str, str, str, bytes]] = []

    def publish(self, region: str, group: str, stream: str, block: EventBlock, now_ms: int) -> None:
        self.blocks.append((region, group, stream, block.messages))


async def test_stored_events_go_to_the_publisher_named_instead_of_the_sessions(
    engine: sa.Engine,
) -> None:
    logs = FunctionLogs(LogStore(engine))
    relay = Published()
    logs.in_region("eu-west-1").publish_tail_to(relay)  # every region's writer: one
    with logs.live_tail.subscribe(logs.region, [G], StreamFilter()) as session:
        await logs.stream(G, "s").write(b"hello\n")
        await logs.flush()
        assert relay.blocks == [(logs.region, G, "s", b"hello")]
        assert session.take() == ([], 0)
