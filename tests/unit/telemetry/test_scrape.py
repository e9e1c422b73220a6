"""Several processes' Prometheus numbers, as one server's: counters and per-process
gauges add up, a gauge of the whole server is taken once, and a scrape survives its
trip as JSON."""

from __future__ import annotations

import json

from prometheus_client.parser import text_string_to_metric_families

from lambdad.telemetry.metrics import MetricsRecorder
from lambdad.telemetry.prometheus import LambdaCollector, exposition, registry_of
from lambdad.telemetry.scrape import Gauge, Scrape

REGION = "us-east-1"


def recorder_with(invokes: int, error_ms: float | None = None) -> MetricsRecorder:
    recorder = MetricsRecorder(None, lambda: 600.0)
    for _ in range(invokes):
        recorder.invocation(REGION, "fn", "live", "3", 3.0, error=False)
    if error_ms is not None:
        recorder.invocation(REGION, "fn", "live", "3", error_ms, error=True)
    recorder.throttle(REGION, "fn", None)
    recorder.async_received(REGION, "fn", None)
    recorder.cold_start(REGION, "fn", {"sandbox": 4.0, "init": 20.0})
    recorder.queue_wait(REGION, "fn", 8.0)
    return recorder


def gauges(environments: float, account: float) -> list[Gauge]:
    return [
        Gauge(
            "lambdad_environments",
            "envs",
            ["region", "function_name", "state"],
            [([REGION, "fn", "frozen"], environments)],
        ),  # fmt: skip
        Gauge(
            "lambda_account_concurrent_executions",
            "acct",
            ["region"],
            [([REGION], account)],
            per_process=False,
        ),  # fmt: skip
    ]


def samples(collector: LambdaCollector) -> dict[tuple[str, str], float]:
    text = exposition(registry_of(collector)).decode()
    return {
        (s.name, s.labels.get("le") or s.labels.get("phase") or s.labels.get("state", "")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_scrape_survives_json() -> None:
    scrape = Scrape.take(recorder_with(2, error_ms=700.0), gauges(3, 5))
    back = Scrape.from_json(json.loads(json.dumps(scrape.to_json())))
    assert back.totals == scrape.totals
    assert back.async_totals == scrape.async_totals
    assert back.cold_starts == scrape.cold_starts and back.queue_waits == scrape.queue_waits
    # Only what each process holds travels: the whole server's gauges are the primary's.
    assert [g.name for g in back.gauges] == ["lambdad_environments"]
    assert back.gauges[0].samples == [([REGION, "fn", "frozen"], 3.0)]


def test_the_primarys_scrape_adds_the_others_counters_and_per_process_gauges() -> None:
    primary = LambdaCollector(recorder_with(2), lambda: gauges(3, 5))
    other = Scrape.take(recorder_with(1, error_ms=700.0), gauges(4, 5))
    before = samples(primary)
    primary.sum_with(lambda: [Scrape.from_json(json.loads(json.dumps(other.to_json())))])
    after = samples(primary)
    assert before[("lambda_invocations_total", "")] == 2
    assert after[("lambda_invocations_total", "")] == 4
    assert after[("lambda_errors_total", "")] == 1
    assert after[("lambda_throttles_total", "")] == 2
    assert after[("lambda_duration_seconds_count", "")] == 4
    assert after[("lambda_duration_seconds_bucket", "0.005")] == 3  # 3 ms each
    assert after[("lambda_duration_seconds_bucket", "+Inf")] == 4
    assert after[("lambda_duration_seconds_sum", "")] == 0.709
    assert after[("lambda_async_events_received_total", "")] == 2
    assert after[("lambdad_cold_start_phase_seconds_count", "init")] == 2
    assert after[("lambdad_queue_wait_seconds_sum", "")] == 0.016
    assert after[("lambdad_environments", "frozen")] == 7
    assert after[("lambda_account_concurrent_executions", "")] == 5  # not 10
    assert samples(primary) == after  # the others' numbers are read, never kept


def test_a_series_only_another_process_has_appears() -> None:
    primary = LambdaCollector(MetricsRecorder(None, lambda: 600.0), lambda: [])
    primary.sum_with(lambda: [Scrape.take(recorder_with(1), gauges(2, 1))])
    after = samples(primary)
    assert after[("lambda_invocations_total", "")] == 1
    assert after[("lambdad_environments", "frozen")] == 2
    assert ("lambda_account_concurrent_executions", "") not in after
