"""Rows of what the workload used, for its cost: one per group of invocations, and
one per minute of each provisioned concurrency config. Blocking (`run_sync`).

Kept in tables of their own (migration 0015) so that nothing else's schema moves:

- `invocation_records`: invocations of one function version with one memory size,
  architecture, UTC day and whether they ran on provisioned concurrency: how many
  (`invocations`, migration 0017) and their billed durations (REPORT's) summed, and
  whether their environments were restored for them from a SnapStart snapshot
  (`restored`, migration 0018: such a group is one of restores, each charged);
- `provisioned_samples`: a config's allocated concurrency over a stretch of time
  (what provisioned concurrency is billed for), with the version's memory and
  architecture.

Both are written in batches off the invocation's path (`cost.UsageRecorder`) and
read summed per day, function and price class; rows older than the retention
are deleted by the recorder's sweep.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import Boolean, Column, Float, Index, Integer, String, Table
from sqlalchemy.engine import Engine

from lambdad.store.database import map_db_errors
from lambdad.store.schema import metadata

invocation_records = Table(
    "invocation_records",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("region", String(32), nullable=False),
    Column("function_name", String(64), nullable=False),
    Column("version", String(16), nullable=False),
    Column("day", String(10), nullable=False),  # UTC, YYYY-MM-DD: what costs are summed by
    Column("ended_at", Float, nullable=False),
    Column("billed_ms", Integer, nullable=False),
    Column("memory_mb", Integer, nullable=False),
    Column("architecture", String(16), nullable=False),
    Column("provisioned", Boolean, nullable=False),
    Column("invocations", Integer, nullable=False, server_default="1"),
    Column("restored", Boolean, nullable=False, server_default=sa.false()),
    Index("ix_invocation_records_day", "day"),
    Index("ix_invocation_records_ended_at", "ended_at"),
)

provisioned_samples = Table(
    "provisioned_samples",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("region", String(32), nullable=False),
    Column("function_name", String(64), nullable=False),
    Column("qualifier", String(128), nullable=False),
    Column("day", String(10), nullable=False),
    Column("ended_at", Float, nullable=False),
    Column("seconds", Float, nullable=False),
    Column("concurrency", Integer, nullable=False),
    Column("memory_mb", Integer, nullable=False),
    Column("architecture", String(16), nullable=False),
    Index("ix_provisioned_samples_day", "day"),
    Index("ix_provisioned_samples_ended_at", "ended_at"),
)


@dataclass(frozen=True)
class InvocationRecord:
    """`invocations` invocations (one, or a group) that ended by `ended_at` on `day`,
    billed `billed_ms` together."""

    region: str
    function_name: str
    version: str
    day: str
    ended_at: float
    billed_ms: int
    memory_mb: int
    architecture: str
    provisioned: bool
    invocations: int = 1
    restored: bool = False
    """Their environments were restored for them from a SnapStart snapshot (cold starts)."""


@dataclass(frozen=True)
class ProvisionedSample:
    region: str
    function_name: str
    qualifier: str
    day: str
    ended_at: float
    seconds: float
    concurrency: int
    memory_mb: int
    architecture: str


@dataclass(frozen=True)
class UsageRow:
    """Usage summed over a day, function and price class.

    `kind` is "invocations" (`count` requests, `gb_seconds` of billed duration),
    "provisioned" (`count` 0, `gb_seconds` of configured concurrency) or "restores"
    (`count` SnapStart restores, `gb` restored: each one's memory size)."""

    day: str
    region: str
    function_name: str
    architecture: str
    kind: str
    provisioned: bool
    count: int
    gb_seconds: float
    gb: float = 0.0


class UsageStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(
        self, records: Sequence[InvocationRecord], samples: Sequence[ProvisionedSample] = ()
    ) -> None:
        with map_db_errors(), self.engine.begin() as conn:
            if records:
                conn.execute(sa.insert(invocation_records), [vars(r) for r in records])
            if samples:
                conn.execute(sa.insert(provisioned_samples), [vars(s) for s in samples])

    def usage(self, first_day: str, last_day: str) -> list[UsageRow]:
        """Every day's usage from `first_day` to `last_day` (inclusive, YYYY-MM-DD)."""
        r, p = invocation_records.c, provisioned_samples.c
        # GB-seconds: memory (MB) / 1024 x billed ms / 1000, summed per memory size first
        # so the database adds integers.
        invocations = (
            sa.select(
                r.day,
                r.region,
                r.function_name,
                r.architecture,
                r.provisioned,
                r.memory_mb,
                sa.func.sum(r.invocations).label("count"),
                sa.func.sum(r.billed_ms).label("amount"),
                sa.func.sum(sa.case((r.restored, r.invocations), else_=0)).label("restores"),
            )
            .where(r.day.between(first_day, last_day))
            .group_by(r.day, r.region, r.function_name, r.architecture, r.provisioned, r.memory_mb)
        )
        provisioned = (
            sa.select(
                p.day,
                p.region,
                p.function_name,
                p.architecture,
                p.memory_mb,
                sa.func.sum(p.seconds * p.concurrency).label("amount"),
            )
            .where(p.day.between(first_day, last_day))
            .group_by(p.day, p.region, p.function_name, p.architecture, p.memory_mb)
        )
        found: dict[tuple[str, str, str, str, str, bool], list[float]] = {}
        with map_db_errors(), self.engine.connect() as conn:
            for row in conn.execute(invocations):
                key = (row.day, row.region, row.function_name, row.architecture, "invocations")
                total = found.setdefault((*key, bool(row.provisioned)), [0, 0.0, 0.0])
                total[0] += int(row._mapping["count"])
                total[1] += row.memory_mb / 1024 * int(row.amount) / 1000
                if restores := int(row.restores or 0):
                    key = (*key[:4], "restores")
                    total = found.setdefault((*key, False), [0, 0.0, 0.0])
                    total[0] += restores
                    total[2] += row.memory_mb / 1024 * restores
            for sample in conn.execute(provisioned):
                key = (
                    sample.day,
                    sample.region,
                    sample.function_name,
                    sample.architecture,
                    "provisioned",
                )
                total = found.setdefault((*key, True), [0, 0.0, 0.0])
                total[1] += sample.memory_mb / 1024 * float(sample.amount)
        return [
            UsageRow(d, reg, fn, arch, kind, prov, int(n), gbs, gb)
            for (d, reg, fn, arch, kind, prov), (n, gbs, gb) in sorted(found.items())
        ]

    def delete_before(self, cutoff: float) -> int:
        """Forget usage that ended before `cutoff` (the retention); how many rows went."""
        with map_db_errors(), self.engine.begin() as conn:
            gone = conn.execute(
                sa.delete(invocation_records).where(invocation_records.c.ended_at < cutoff)
            ).rowcount
            gone += conn.execute(
                sa.delete(provisioned_samples).where(provisioned_samples.c.ended_at < cutoff)
            ).rowcount
        return int(gone)
