"""The metrics recorder: every metric event of the platform goes through here.

Recording is in memory and cheap (dict updates on the event loop, no I/O): per
1-minute period and series (region, metric, dimensions) one `Aggregate`, and
cumulative totals for Prometheus. `run` writes the finished and current minutes
to the store in one batch a minute, off the request path; queries read the
store and merge what is not written yet, so answers are current and survive a
restart (up to the last minute's flush).

Series follow CloudWatch's `AWS/Lambda` dimensions: account level (none),
FunctionName, and for an invoke of an alias or version also Resource
(`name:qualifier`) and Resource + ExecutedVersion. An invoke of `$LATEST` or of
the unqualified name counts on the function and the account only.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from lambdad.background import flush_periodically
from lambdad.concurrency import run_sync
from lambdad.store import MetricRow, MetricStore
from lambdad.telemetry.histogram import Aggregate, bucket_of

Dims = tuple[tuple[str, str], ...]
"""Dimensions as (name, value) pairs sorted by name."""
PendingKey = tuple[int, str, str, Dims]
"""(minute, region, metric, dimensions)"""
Clock = Callable[[], float]

FLUSH_INTERVAL_S = 60.0
RETENTION_S = 15 * 86400.0
"""CloudWatch keeps 1-minute data points for 15 days."""
UNQUALIFIED = (None, "", "$LATEST")
QUEUE_WAIT = "QueueWaitDuration"
"""lambdad's own: how long an invocation waited in line for a busy environment."""


DURATION_BOUNDS_MS = (
    1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
    30000.0, 60000.0, 300000.0, 900000.0,
)  # fmt: skip
"""Prometheus' histogram buckets of Duration (le, in ms; +Inf after the last)."""


@dataclass
class Totals:
    """Cumulative counts of one (region, function, resource, executed version) since start."""

    invocations: int = 0
    errors: int = 0
    throttles: int = 0
    duration_ms: float = 0.0
    duration_counts: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BOUNDS_MS) + 1))


@dataclass
class PhaseTotals:
    count: int = 0
    total_ms: float = 0.0


class MetricsRecorder:
    def __init__(self, store: MetricStore | None = None, clock: Clock = time.time) -> None:
        self.store = store
        self._clock = clock
        self._pending: dict[PendingKey, Aggregate] = {}
        self._generation = 0
        """Bumped whenever `_pending` is replaced (a flush): `_hot` is then stale."""
        self._hot: dict[tuple[str, ...], tuple[int, int, list[list[Aggregate]]]] = {}
        """The aggregates every invocation of a function and qualifier adds to, per metric
        and series, with the generation and minute they are of: found once a minute,
        not looked up per invocation."""
        self._flushing: dict[PendingKey, Aggregate] = {}
        self._dims: dict[tuple[str, str | None, str | None], tuple[Dims, ...]] = {}
        self.totals: dict[tuple[str, str, str, str], Totals] = {}
        self.cold_starts: dict[tuple[str, str, str], PhaseTotals] = {}
        self.queue_waits: dict[tuple[str, str], PhaseTotals] = {}
        self.async_totals: dict[tuple[str, str, str], int] = {}
        self._flush_others: Callable[[], Awaitable[object]] | None = None

    # -- recording (called on the event loop, never blocks) -----------------------------

    def _series(
        self, region: str, function: str, qualifier: str | None, version: str | None
    ) -> tuple[Dims, ...]:
        """The dimension sets an event of this function and qualifier counts under."""
        key = (function, qualifier if qualifier not in UNQUALIFIED else None, version)
        found = self._dims.get(key)
        if found is None:
            name = (("FunctionName", function),)
            found = ((), name)
            if key[1] is not None:
                resource = (("FunctionName", function), ("Resource", f"{function}:{key[1]}"))
                found += (resource,)
                if version is not None:
                    found += ((("ExecutedVersion", version), *resource),)
            self._dims[key] = found
        return found

    def _add(
        self,
        region: str,
        metric: str,
        series: Iterable[Dims],
        value: float,
        minute: int | None = None,
    ) -> None:
        if minute is None:
            minute = int(self._clock() // 60) * 60
        pending = self._pending
        bucket = bucket_of(value)
        for dims in series:
            key = (minute, region, metric, dims)
            aggregate = pending.get(key)
            if aggregate is None:
                aggregate = pending[key] = Aggregate()
            aggregate.add(value, bucket)

    def _aggregates(
        self,
        hot_key: tuple[str, ...],
        region: str,
        metrics: tuple[str, ...],
        series: tuple[Dims, ...],
        minute: int,
    ) -> list[list[Aggregate]]:
        """`_pending`'s aggregates of `metrics` (each over `series`) in `minute`, made if new."""
        found = self._hot.get(hot_key)
        if found is not None and found[0] == self._generation and found[1] == minute:
            return found[2]
        pending = self._pending
        aggregates: list[list[Aggregate]] = []
        for metric in metrics:
            row = []
            for dims in series:
                key = (minute, region, metric, dims)
                aggregate = pending.get(key)
                if aggregate is None:
                    aggregate = pending[key] = Aggregate()
                row.append(aggregate)
            aggregates.append(row)
        self._hot[hot_key] = (self._generation, minute, aggregates)
        return aggregates

    def _totals(self, region: str, function: str, qualifier: str | None, version: str) -> Totals:
        resource = "" if qualifier in UNQUALIFIED else f"{function}:{qualifier}"
        key = (region, function, resource, version)
        found = self.totals.get(key)
        if found is None:
            found = self.totals[key] = Totals()
        return found

    def invocation(
        self,
        region: str,
        function: str,
        qualifier: str | None,
        version: str,
        duration_ms: float,
        error: bool,
    ) -> None:
        """One invocation that ran (to success or a function error)."""
        minute = int(self._clock() // 60) * 60
        invocations, errors, durations = self._aggregates(
            ("invocation", region, function, str(qualifier), version),
            region,
            ("Invocations", "Errors", "Duration"),
            self._series(region, function, qualifier, version),
            minute,
        )
        for aggregates, value in (
            (invocations, 1.0),
            (errors, 1.0 if error else 0.0),
            (durations, duration_ms),
        ):
            bucket = bucket_of(value)
            for aggregate in aggregates:
                aggregate.add(value, bucket)
        totals = self._totals(region, function, qualifier, version)
        totals.invocations += 1
        totals.errors += error
        totals.duration_ms += duration_ms
        totals.duration_counts[bisect.bisect_left(DURATION_BOUNDS_MS, duration_ms)] += 1

    def throttle(self, region: str, function: str, qualifier: str | None) -> None:
        """An invocation refused for concurrency (it is not an Invocation)."""
        self._add(region, "Throttles", self._series(region, function, qualifier, None), 1.0)
        self._totals(region, function, qualifier, "").throttles += 1

    def concurrency(
        self,
        region: str,
        function: str,
        in_flight: int,
        account_in_flight: int,
        unreserved_in_flight: int,
    ) -> None:
        """Concurrency as an invocation was admitted (its Maximum is the peak)."""
        minute = int(self._clock() // 60) * 60
        (account,), (unreserved,) = self._aggregates(
            ("concurrency", region),
            region,
            ("ConcurrentExecutions", "UnreservedConcurrentExecutions"),
            ((),),
            minute,
        )
        ((named,),) = self._aggregates(
            ("concurrency", region, function),
            region,
            ("ConcurrentExecutions",),
            ((("FunctionName", function),),),
            minute,
        )
        account.add(account_in_flight)
        named.add(in_flight)
        unreserved.add(unreserved_in_flight)

    def provisioned(
        self, region: str, function: str, qualifier: str, in_use: int, allocated: int
    ) -> None:
        """An invocation ran in `qualifier`'s provisioned concurrency."""
        resource = ((("FunctionName", function), ("Resource", f"{function}:{qualifier}")),)
        self._add(region, "ProvisionedConcurrentExecutions", resource, in_use)
        if allocated:
            self._add(region, "ProvisionedConcurrencyUtilization", resource, in_use / allocated)

    def async_received(self, region: str, function: str, qualifier: str | None) -> None:
        self._async(region, function, qualifier, "AsyncEventsReceived", 1.0)

    def async_age(self, region: str, function: str, qualifier: str | None, age_ms: float) -> None:
        """An attempt started `age_ms` after its event was queued."""
        series = self._series(region, function, qualifier, None)
        self._add(region, "AsyncEventAge", series, age_ms)

    def async_dropped(self, region: str, function: str, qualifier: str | None) -> None:
        self._async(region, function, qualifier, "AsyncEventsDropped", 1.0)

    def destination_failure(self, region: str, function: str, qualifier: str | None) -> None:
        self._async(region, function, qualifier, "DestinationDeliveryFailures", 1.0)

    def _async(
        self, region: str, function: str, qualifier: str | None, metric: str, value: float
    ) -> None:
        self._add(region, metric, self._series(region, function, qualifier, None), value)
        key = (region, function, metric)
        self.async_totals[key] = self.async_totals.get(key, 0) + 1

    def cold_start(self, region: str, function: str, phases_ms: dict[str, float]) -> None:
        """lambdad's own: a cold start's phases (sandbox, init, ...)."""
        for phase, ms in phases_ms.items():
            key = (region, function, phase)
            found = self.cold_starts.get(key)
            if found is None:
                found = self.cold_starts[key] = PhaseTotals()
            found.count += 1
            found.total_ms += ms

    def queue_wait(self, region: str, function: str, wait_ms: float) -> None:
        """lambdad's own: an invocation waited `wait_ms` in line for a busy environment
        (`pool/queueing.py`), whether one was handed to it or it cold-started after."""
        self._add(region, QUEUE_WAIT, self._series(region, function, None, None), wait_ms)
        found = self.queue_waits.get((region, function))
        if found is None:
            found = self.queue_waits[(region, function)] = PhaseTotals()
        found.count += 1
        found.total_ms += wait_ms

    # -- persistence -----------------------------------------------------------------------

    async def run(self, interval_s: float = FLUSH_INTERVAL_S) -> None:
        """Write the recorded minutes to the store, one batch per interval."""
        await flush_periodically(self.flush, interval_s, "metrics")

    async def flush(self) -> None:
        if self.store is None or not self._pending:
            return
        self._flushing, self._pending = self._pending, {}
        self._generation += 1
        rows = [
            MetricRow(
                region,
                metric,
                dims_text(dims),
                minute,
                aggregate.count,
                aggregate.total,
                aggregate.minimum,
                aggregate.maximum,
                {str(k): n for k, n in aggregate.buckets.items()},
            )
            for (minute, region, metric, dims), aggregate in self._flushing.items()
            if aggregate.count
        ]
        try:
            await run_sync(self.store.add, rows, self._clock() - RETENTION_S)
        except BaseException:
            # Not written: back into the pending minutes (merged with what came since).
            for key, aggregate in self._flushing.items():
                self._merge_into(self._pending, key, aggregate)
            raise
        finally:
            self._flushing = {}

    @staticmethod
    def _merge_into(
        target: dict[PendingKey, Aggregate], key: PendingKey, aggregate: Aggregate
    ) -> None:
        found = target.get(key)
        if found is None:
            target[key] = aggregate.copy()
        else:
            found.merge(aggregate)

    def flush_others_with(self, flush: Callable[[], Awaitable[object]]) -> None:
        """`store_others` awaits `flush`: a primary server process asks its secondaries
        to store what their recorders hold (`--workers`)."""
        self._flush_others = flush

    async def store_others(self) -> None:
        """Before a query: what other server processes recorded is in the store, so
        the query sees every invocation so far, as with one process."""
        if self._flush_others is not None:
            await self._flush_others()

    # -- queries -------------------------------------------------------------------------

    async def minutes(
        self, region: str, metric: str, dims: Dims, start: float, end: float
    ) -> dict[int, Aggregate]:
        """The series' aggregates by minute in [start, end): the store's and the unwritten."""
        found: dict[int, Aggregate] = {}
        if self.store is not None:
            rows = await run_sync(self.store.read, region, metric, dims_text(dims), start, end)
            for row in rows:
                aggregate = Aggregate.from_row(
                    row.sample_count, row.total, row.minimum, row.maximum, row.buckets
                )
                self._merge_minute(found, row.minute, aggregate)
        for table in (self._flushing, self._pending):
            for (minute, r, m, d), aggregate in list(table.items()):
                if r == region and m == metric and d == dims and start <= minute < end:
                    self._merge_minute(found, minute, aggregate)
        return found

    @staticmethod
    def _merge_minute(found: dict[int, Aggregate], minute: int, aggregate: Aggregate) -> None:
        if minute in found:
            found[minute].merge(aggregate)
        else:
            found[minute] = aggregate.copy()

    async def series_names(self, region: str, since: float) -> set[tuple[str, Dims]]:
        """Every (metric, dimensions) with data since `since`."""
        names: set[tuple[str, Dims]] = set()
        if self.store is not None:
            for metric, text in await run_sync(self.store.series, region, since):
                names.add((metric, parse_dims(text)))
        for table in (self._flushing, self._pending):
            for minute, r, m, d in list(table):
                if r == region and minute >= since - 60:
                    names.add((m, d))
        return names


def dims_text(dims: Dims) -> str:
    """The stored form: `Name=Value` lines in name order (names hold no '=' or newline)."""
    return "\n".join(f"{name}={value}" for name, value in dims)


def parse_dims(text: str) -> Dims:
    if not text:
        return ()
    return tuple(
        (name, value) for name, _, value in (line.partition("=") for line in text.split("\n"))
    )


def minute_floor(epoch: float) -> int:
    return int(math.floor(epoch / 60) * 60)
