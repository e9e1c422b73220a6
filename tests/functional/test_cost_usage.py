"""Usage on a real database: invocations recorded through the buffer, summed per day,
function and price class; provisioned concurrency sampled; old rows swept; a full
buffer drops rather than grows."""

from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa

from lambdad.catalog import ProvisionedTarget
from lambdad.cost import UsageRecorder
from lambdad.store import ProvisionedRow, UsageRow, UsageStore
from lambdad.store.usage import invocation_records
from support.catalog import make_version

pytestmark = pytest.mark.anyio

DAY1 = 1_792_065_600.0  # 2026-10-15 12:00 UTC
DAY2 = DAY1 + 86_400


class Clock:
    def __init__(self) -> None:
        self.now = DAY1

    def __call__(self) -> float:
        return self.now


async def test_invocations_are_summed_per_day_function_and_price_class(engine: sa.Engine) -> None:
    clock = Clock()
    store = UsageStore(engine)
    recorder = UsageRecorder(store, clock=clock)
    small = make_version(
        "small", config=dataclasses.replace(make_version().config, memory_size=128)
    )
    arm = make_version(
        "arm",
        config=dataclasses.replace(
            make_version().config, memory_size=2048, architectures=("arm64",)
        ),
    )
    for billed in (1, 2, 997):
        recorder.record("us-east-1", small, billed, False)
    recorder.record("us-east-1", small, 500, True)
    recorder.record("eu-west-1", arm, 1500, False)
    clock.now = DAY2
    recorder.record("us-east-1", small, 1000, False)
    await recorder.flush()

    assert store.usage("2026-10-15", "2026-10-16") == [
        UsageRow("2026-10-15", "eu-west-1", "arm", "arm64", "invocations", False, 1, 3.0),
        UsageRow("2026-10-15", "us-east-1", "small", "x86_64", "invocations", False, 3, 0.125),
        UsageRow("2026-10-15", "us-east-1", "small", "x86_64", "invocations", True, 1, 0.0625),
        UsageRow("2026-10-16", "us-east-1", "small", "x86_64", "invocations", False, 1, 0.125),
    ]
    assert store.usage("2026-10-16", "2026-10-16")[0].day == "2026-10-16"

    # Past the retention (days), rows go.
    await recorder.sweep(DAY2 + recorder.retention_days * 86_400 - 1)
    assert [r.day for r in store.usage("2026-10-01", "2026-10-31")] == ["2026-10-16"]

    # SnapStart restores: counted apart, per GB of memory restored.
    recorder.record("us-east-1", small, 20, False, restored=True)
    recorder.record("us-east-1", small, 3, False)
    recorder.record("us-east-1", small, 30, False, restored=True)
    await recorder.flush()
    day2 = store.usage("2026-10-16", "2026-10-16")
    assert day2 == [
        UsageRow("2026-10-16", "us-east-1", "small", "x86_64", "invocations", False, 4, 0.131625),
        UsageRow("2026-10-16", "us-east-1", "small", "x86_64", "restores", False, 2, 0.0, 0.25),
    ]


async def test_a_flushs_invocations_of_one_price_class_are_one_row(engine: sa.Engine) -> None:
    """Invocations are recorded in groups (a row per invocation cost each one an insert):
    one row per function version, price class and day in each write, its count and
    billed duration summed, the time of its last."""
    clock = Clock()
    store = UsageStore(engine)
    recorder = UsageRecorder(store, clock=clock)
    version = make_version("busy")
    published = dataclasses.replace(version, version="1")
    for billed in range(1, 1001):
        recorder.record("us-east-1", version, billed, False)
        clock.now += 0.001
    recorder.record("us-east-1", published, 7, False)
    await recorder.flush()
    recorder.record("us-east-1", version, 9, False)
    await recorder.flush()

    with engine.connect() as conn:
        rows = [
            (row.version, row.invocations, row.billed_ms)
            for row in conn.execute(sa.select(invocation_records))
        ]
    assert sorted(rows) == [("$LATEST", 1, 9), ("$LATEST", 1000, 500500), ("1", 1, 7)]
    [row] = store.usage("2026-10-15", "2026-10-15")
    assert (row.count, row.gb_seconds) == (1002, 128 / 1024 * (500500 + 7 + 9) / 1000)


async def test_provisioned_concurrency_is_sampled_with_its_version(engine: sa.Engine) -> None:
    clock = Clock()
    store = UsageStore(engine)
    recorder = UsageRecorder(store, clock=clock)
    version = make_version(
        "warm", config=dataclasses.replace(make_version().config, memory_size=512)
    )
    targets = [
        ProvisionedTarget(ProvisionedRow("warm", "live", 4, 0.0), version),
        ProvisionedTarget(ProvisionedRow("warm", "off", 0, 0.0), version),
    ]
    await recorder.flush(recorder.samples(targets, 60.0, clock.now))
    [row] = store.usage("2026-10-15", "2026-10-15")
    # 4 environments x 0.5 GB x 60 s
    assert (row.kind, row.function_name, row.gb_seconds, row.count) == (
        "provisioned",
        "warm",
        120.0,
        0,
    )


async def test_a_full_buffer_drops_instead_of_growing(engine: sa.Engine) -> None:
    store = UsageStore(engine)
    recorder = UsageRecorder(store, max_buffered=2, clock=Clock())
    for _ in range(5):
        recorder.record("us-east-1", make_version(), 10, False)
    await recorder.flush()
    [row] = store.usage("2026-10-15", "2026-10-15")
    assert row.count == 2
