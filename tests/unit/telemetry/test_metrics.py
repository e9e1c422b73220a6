"""The recorder: AWS's dimension sets per invoke, minutes, flushes and the queries
that merge the store's rows with what is not written yet."""

from __future__ import annotations

import anyio
import pytest
from prometheus_client.parser import text_string_to_metric_families

from lambdad.store import MetricRow
from lambdad.telemetry.metric_queries import MetricId, list_metrics, periods, unit_of
from lambdad.telemetry.metrics import Dims, MetricsRecorder, parse_dims
from lambdad.telemetry.prometheus import exposition, new_registry


class FakeStore:
    def __init__(self, fail: bool = False) -> None:
        self.rows: list[MetricRow] = []
        self.fail = fail
        self.expired_before: float | None = None

    def add(self, rows: list[MetricRow], expire_before: float) -> None:
        if self.fail:
            raise RuntimeError("database down")
        self.rows += rows
        self.expired_before = expire_before

    def read(
        self, region: str, metric: str, dims: str, start: float, end: float
    ) -> list[MetricRow]:
        return [
            r
            for r in self.rows
            if (r.region, r.metric_name, r.dimensions) == (region, metric, dims)
            and start <= r.minute < end
        ]

    def series(self, region: str, since: float) -> list[tuple[str, str]]:
        return sorted({(r.metric_name, r.dimensions) for r in self.rows if r.region == region})


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


FN = (("FunctionName", "fn"),)
ALIAS = (("FunctionName", "fn"), ("Resource", "fn:live"))
EXECUTED = (("ExecutedVersion", "3"), *ALIAS)


def test_an_alias_invoke_counts_on_every_dimension_set() -> None:
    recorder = MetricsRecorder(None, Clock(6000.0))
    recorder.invocation("us-east-1", "fn", "live", "3", 12.0, error=False)
    recorder.invocation("us-east-1", "fn", None, "$LATEST", 5.0, error=True)
    names = anyio.run(recorder.series_names, "us-east-1", 0.0)
    assert ("Invocations", ()) in names
    assert {("Invocations", d) for d in (FN, ALIAS, EXECUTED)} <= names

    def summed(dims: tuple[tuple[str, str], ...], metric: str = "Invocations") -> float:
        minutes = anyio.run(recorder.minutes, "us-east-1", metric, dims, 0.0, 10**10)
        return sum(a.total for a in minutes.values())

    assert summed(FN) == 2 and summed(()) == 2 and summed(ALIAS) == 1 and summed(EXECUTED) == 1
    assert summed(FN, "Errors") == 1 and summed(ALIAS, "Errors") == 0
    totals = recorder.totals[("us-east-1", "fn", "fn:live", "3")]
    assert (totals.invocations, totals.errors) == (1, 0)


def test_latest_is_counted_as_the_function() -> None:
    recorder = MetricsRecorder(None, Clock(60.0))
    recorder.throttle("us-east-1", "fn", "$LATEST")
    names = anyio.run(recorder.series_names, "us-east-1", 0.0)
    assert names == {("Throttles", ()), ("Throttles", FN)}


def test_a_flush_writes_rows_and_queries_merge_them_with_later_minutes() -> None:
    clock, store = Clock(120.0), FakeStore()
    recorder = MetricsRecorder(store, clock)  # type: ignore[arg-type]
    recorder.invocation("us-east-1", "fn", None, "1", 10.0, error=False)
    anyio.run(recorder.flush)
    assert {parse_dims(r.dimensions) for r in store.rows} == {(), FN}
    assert store.expired_before is not None and store.expired_before < 120.0
    recorder.invocation("us-east-1", "fn", None, "1", 30.0, error=False)  # same minute
    clock.now = 200.0
    recorder.invocation("us-east-1", "fn", None, "1", 50.0, error=False)  # the next
    minutes = anyio.run(recorder.minutes, "us-east-1", "Duration", FN, 0.0, 1000.0)
    assert sorted(minutes) == [120, 180]
    assert (minutes[120].count, minutes[120].maximum) == (2, 30.0)
    assert minutes[180].total == 50.0


def test_a_failed_flush_keeps_the_minutes() -> None:
    store = FakeStore(fail=True)
    recorder = MetricsRecorder(store, Clock(60.0))  # type: ignore[arg-type]
    recorder.invocation("us-east-1", "fn", None, "1", 10.0, error=False)
    with pytest.raises(RuntimeError):
        anyio.run(recorder.flush)
    store.fail = False
    anyio.run(recorder.flush)
    assert sum(r.sample_count for r in store.rows if r.metric_name == "Invocations") == 2


def test_queue_waits_are_lambdads_own_metric_in_cloudwatch_and_prometheus() -> None:
    recorder = MetricsRecorder(None, Clock(600.0))
    recorder.invocation("us-east-1", "fn", None, "1", 10.0, error=False)
    recorder.queue_wait("us-east-1", "fn", 4.0)
    recorder.queue_wait("us-east-1", "fn", 8.0)

    def listed(namespace: str | None) -> set[tuple[str, str, Dims]]:
        found = anyio.run(list_metrics, recorder, "us-east-1", 0.0, namespace, None, [])
        return {(m.namespace, m.name, m.dims) for m in found}

    own = {("Lambdad", "QueueWaitDuration", ()), ("Lambdad", "QueueWaitDuration", FN)}
    assert listed("Lambdad") == own
    assert own <= listed(None) and not own & listed("AWS/Lambda")
    assert ("AWS/Lambda", "Invocations", FN) in listed("AWS/Lambda")
    wait = MetricId("Lambdad", "QueueWaitDuration", FN)
    [(_, aggregate)] = anyio.run(periods, recorder, "us-east-1", wait, 0.0, 10**10, 60)
    assert (aggregate.count, aggregate.total, aggregate.maximum) == (2, 12.0, 8.0)
    assert unit_of("QueueWaitDuration") == "Milliseconds"
    misplaced = MetricId("AWS/Lambda", "QueueWaitDuration", FN)
    assert anyio.run(periods, recorder, "us-east-1", misplaced, 0.0, 10**10, 60) == []

    text = exposition(new_registry(recorder)).decode()
    samples = {
        (s.name, s.labels.get("function_name")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("lambdad_queue_wait_seconds_count", "fn")] == 2
    assert samples[("lambdad_queue_wait_seconds_sum", "fn")] == pytest.approx(0.012)


def test_invocations_around_flushes_and_minutes_each_count_once() -> None:
    """Every invocation adds to its minute's pending aggregates, whatever flushed (or
    failed to) before it in that minute."""
    clock, store = Clock(60.0), FakeStore(fail=True)
    recorder = MetricsRecorder(store, clock)  # type: ignore[arg-type]
    recorder.invocation("us-east-1", "fn", None, "1", 10.0, error=False)
    recorder.concurrency("us-east-1", "fn", 1, 1, 1)
    with pytest.raises(RuntimeError):
        anyio.run(recorder.flush)
    recorder.invocation("us-east-1", "fn", None, "1", 20.0, error=True)
    recorder.concurrency("us-east-1", "fn", 2, 3, 2)
    store.fail = False
    anyio.run(recorder.flush)
    recorder.invocation("us-east-1", "fn", None, "1", 30.0, error=False)
    clock.now = 120.0
    recorder.invocation("us-east-1", "fn", None, "1", 40.0, error=False)
    anyio.run(recorder.flush)

    def rows(metric: str, dims: Dims, minute: int) -> list[tuple[float, float, float]]:
        return [
            (r.sample_count, r.total, r.maximum)
            for r in store.rows
            if (r.metric_name, parse_dims(r.dimensions), r.minute) == (metric, dims, minute)
        ]

    assert rows("Invocations", FN, 60) == [(2, 2.0, 1.0), (1, 1.0, 1.0)]
    assert rows("Errors", (), 60) == [(2, 1.0, 1.0), (1, 0.0, 0.0)]
    assert rows("Duration", FN, 120) == [(1, 40.0, 40.0)]
    assert rows("ConcurrentExecutions", (), 60) == [(2, 4.0, 3.0)]
    assert rows("ConcurrentExecutions", FN, 60) == [(2, 3.0, 2.0)]
    assert rows("UnreservedConcurrentExecutions", (), 60) == [(2, 3.0, 2.0)]
