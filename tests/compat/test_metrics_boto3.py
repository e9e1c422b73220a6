"""Metrics after a known workload: Prometheus' /metrics (parsed by prometheus-client's
parser) and boto3's cloudwatch client (GetMetricData, GetMetricStatistics,
ListMetrics) give the same counts, per function, alias and executed version,
and keep them across a restart."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families

from support.lambda_calls import new_function
from support.marks import one_process
from support.postgres import configured_url, drop_database, fresh_database
from support.server import LambdadServer, boto3_client, free_port, signed_get
from support.waiting import wait_until
from support.zips import make_zip

pytestmark = pytest.mark.compat

SOURCE = """
import time

def handler(event, context):
    time.sleep(event.get("sleep", 0))
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"ok": True}
"""


def scrape(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """/metrics as {sample name: [(labels, value)]}."""
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    text = httpx.get(url, timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return found


def total(
    samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str
) -> float:
    return sum(
        value
        for have, value in samples.get(name, [])
        if all(have.get(k) == v for k, v in labels.items())
    )


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory, backend: str) -> Iterator[dict[str, Any]]:
    """A server with a known workload done: `fn` ran 4 times unqualified (1 error) and
    2 times through alias `live` (version 1); `capped` was throttled (3 calls);
    `queued` got 2 async events (1 failed and was dropped). The
    restart test stops it last."""
    tmp_path = tmp_path_factory.mktemp("metrics")
    own_database_url = None
    if backend == "postgres":
        url = configured_url()
        assert url is not None
        own_database_url = fresh_database(url, f"t{uuid.uuid4().hex[:10]}")
    metrics_port = free_port()
    server = LambdadServer(
        tmp_path / "data",
        own_database_url,
        args=["--metrics-listen", f"127.0.0.1:{metrics_port}"],
    )
    with server:
        lam = boto3_client(server.url)
        code = make_zip({"app.py": SOURCE})
        fn = new_function(lam, "metrics", code=code)
        version = lam.publish_version(FunctionName=fn)["Version"]
        lam.create_alias(FunctionName=fn, Name="live", FunctionVersion=version)
        for event in (b"{}", b"{}", b"{}", b'{"fail": true}'):
            lam.invoke(FunctionName=fn, Payload=event)
        for _ in range(2):
            lam.invoke(FunctionName=fn, Qualifier="live", Payload=b'{"sleep": 0.05}')
        capped = new_function(lam, "capped", code=code)
        lam.put_function_concurrency(FunctionName=capped, ReservedConcurrentExecutions=0)
        throttled = 0
        for _ in range(3):
            with pytest.raises(ClientError) as refused:
                lam.invoke(FunctionName=capped, Payload=b"{}")
            assert refused.value.response["Error"]["Code"] == "TooManyRequestsException"
            # The client may have tried again (a 429 is retryable): each try is a throttle.
            throttled += 1 + refused.value.response["ResponseMetadata"].get("RetryAttempts", 0)
        queued = new_function(lam, "queued", code=code)
        lam.put_function_event_invoke_config(FunctionName=queued, MaximumRetryAttempts=0)
        lam.invoke(FunctionName=queued, InvocationType="Event", Payload=b"{}")
        lam.invoke(FunctionName=queued, InvocationType="Event", Payload=b'{"fail": true}')
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"

        def both_done() -> bool:
            # The two events may finish in either order: wait for the dropped one and the other.
            samples = scrape(metrics_url)
            return (
                total(samples, "lambda_async_events_dropped_total") == 1
                and total(samples, "lambda_invocations_total", function_name=queued) == 2
            )

        wait_until(both_done, "the failed async event to be dropped and the other to have run")
        yield {
            "server": server,
            "queued": queued,
            "fn": fn,
            "version": version,
            "capped": capped,
            "throttled": throttled,
            "metrics_url": metrics_url,
            "data_dir": tmp_path / "data",
            "database_url": own_database_url,
        }
    if own_database_url is not None:
        drop_database(configured_url() or "", own_database_url)


def test_prometheus_counts_exactly_the_workload(workload: dict[str, Any]) -> None:
    fn, capped = workload["fn"], workload["capped"]
    samples = scrape(workload["metrics_url"])
    assert total(samples, "lambda_invocations_total", function_name=fn) == 6
    assert total(samples, "lambda_errors_total", function_name=fn) == 1
    assert total(samples, "lambda_invocations_total", function_name=fn, resource="") == 4
    alias = {"function_name": fn, "resource": f"{fn}:live", "executed_version": "1"}
    assert total(samples, "lambda_invocations_total", **alias) == 2
    assert total(samples, "lambda_duration_seconds_count", **alias) == 2
    assert total(samples, "lambda_duration_seconds_sum", **alias) >= 0.1
    assert total(samples, "lambda_throttles_total", function_name=capped) == workload["throttled"]
    assert total(samples, "lambda_invocations_total", function_name=capped) == 0
    assert total(samples, "lambdad_cold_start_phase_seconds_count", function_name=fn) >= 1
    environments = total(samples, "lambdad_environments", function_name=fn)
    assert environments >= 1


def test_async_events_are_counted(workload: dict[str, Any]) -> None:
    queued = workload["queued"]
    samples = scrape(workload["metrics_url"])
    assert total(samples, "lambda_async_events_received_total", function_name=queued) == 2
    assert total(samples, "lambda_async_events_dropped_total", function_name=queued) == 1
    assert total(samples, "lambda_invocations_total", function_name=queued) == 2
    assert total(samples, "lambda_errors_total", function_name=queued) == 1
    assert total(samples, "lambdad_async_queue_depth", function_name=queued) == 0
    cw = boto3_client(workload["server"].url, service="cloudwatch")
    assert statistic(cw, "AsyncEventsReceived", {"FunctionName": queued}) == 2
    assert statistic(cw, "AsyncEventsDropped", {"FunctionName": queued}) == 1
    assert statistic(cw, "AsyncEventAge", {"FunctionName": queued}, "SampleCount") == 2


def test_the_api_metrics_endpoint_needs_a_signature(workload: dict[str, Any]) -> None:
    server = workload["server"]
    assert httpx.get(f"{server.url}/metrics", timeout=10).status_code == 403
    lam = boto3_client(server.url)
    signed = signed_get(lam, f"{server.url}/metrics")
    assert signed.status_code == 200
    assert f'function_name="{workload["fn"]}"' in signed.text


def window() -> dict[str, datetime]:
    now = datetime.now(UTC)
    return {"StartTime": now - timedelta(minutes=30), "EndTime": now + timedelta(minutes=5)}


def statistic(cw: Any, metric: str, dims: dict[str, str], stat: str = "Sum") -> float:
    points = cw.get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName=metric,
        Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
        Period=60,
        Statistics=[stat],
        **window(),
    )["Datapoints"]
    return float(sum(p[stat] for p in points))


def test_cloudwatch_gives_the_same_numbers(workload: dict[str, Any]) -> None:
    fn, capped = workload["fn"], workload["capped"]
    cw = boto3_client(workload["server"].url, service="cloudwatch")
    assert statistic(cw, "Invocations", {"FunctionName": fn}) == 6
    assert statistic(cw, "Errors", {"FunctionName": fn}) == 1
    assert statistic(cw, "Throttles", {"FunctionName": capped}) == workload["throttled"]
    resource = {"FunctionName": fn, "Resource": f"{fn}:live"}
    assert statistic(cw, "Invocations", resource) == 2
    assert statistic(cw, "Invocations", {**resource, "ExecutedVersion": "1"}) == 2
    assert statistic(cw, "Invocations", {}) == 8  # the account: fn 6, queued 2

    duration = cw.get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="Duration",
        Dimensions=[
            {"Name": "FunctionName", "Value": fn},
            {"Name": "Resource", "Value": f"{fn}:live"},
        ],
        Period=3600,
        ExtendedStatistics=["p50", "p99"],
        **window(),
    )["Datapoints"]
    assert duration and all(p["Unit"] == "Milliseconds" for p in duration)
    assert all(p["ExtendedStatistics"]["p99"] >= 50 for p in duration)

    def query(qid: str, metric: str, dims: dict[str, str], stat: str) -> dict[str, Any]:
        return {
            "Id": qid,
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/Lambda",
                    "MetricName": metric,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                },
                "Period": 60,
                "Stat": stat,
            },
        }

    answer = cw.get_metric_data(
        MetricDataQueries=[
            query("inv", "Invocations", {"FunctionName": fn}, "Sum"),
            query("err", "Errors", {"FunctionName": fn}, "Sum"),
            query("thr", "Throttles", {"FunctionName": capped}, "Sum"),
            query("p99", "Duration", resource, "p99"),
            query("cc", "ConcurrentExecutions", {"FunctionName": fn}, "Maximum"),
        ],
        ScanBy="TimestampAscending",
        **window(),
    )
    results = {r["Id"]: r for r in answer["MetricDataResults"]}
    assert sum(results["inv"]["Values"]) == 6
    assert sum(results["err"]["Values"]) == 1
    assert sum(results["thr"]["Values"]) == workload["throttled"]
    assert min(results["p99"]["Values"]) >= 50
    assert max(results["cc"]["Values"]) >= 1
    assert all(r["StatusCode"] == "Complete" for r in results.values())
    stamps = results["inv"]["Timestamps"]
    assert stamps == sorted(stamps)

    listed = cw.list_metrics(
        Namespace="AWS/Lambda",
        MetricName="Invocations",
        Dimensions=[{"Name": "FunctionName", "Value": fn}],
    )["Metrics"]
    dimension_sets = sorted(tuple(d["Name"] for d in m["Dimensions"]) for m in listed)
    assert dimension_sets == [
        ("ExecutedVersion", "FunctionName", "Resource"),
        ("FunctionName",),
        ("FunctionName", "Resource"),
    ]


def test_cloudwatch_refuses_what_it_does_not_serve(workload: dict[str, Any]) -> None:
    cw = boto3_client(workload["server"].url, service="cloudwatch")
    with pytest.raises(ClientError) as both:
        cw.get_metric_statistics(
            Namespace="AWS/Lambda",
            MetricName="Invocations",
            Period=60,
            Statistics=["Sum"],
            ExtendedStatistics=["p99"],
            **window(),
        )
    assert both.value.response["Error"]["Code"] == "InvalidParameterCombination"
    with pytest.raises(ClientError) as expression:
        cw.get_metric_data(
            MetricDataQueries=[{"Id": "e1", "Expression": "SUM(METRICS())"}], **window()
        )
    assert expression.value.response["Error"]["Code"] == "ValidationError"


def test_time_moves_the_datapoints(workload: dict[str, Any]) -> None:
    """Data points are stamped in the minute they were recorded (not at the query)."""
    cw = boto3_client(workload["server"].url, service="cloudwatch")
    points = cw.get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="Invocations",
        Dimensions=[{"Name": "FunctionName", "Value": workload["fn"]}],
        Period=60,
        Statistics=["SampleCount"],
        **window(),
    )["Datapoints"]
    now = time.time()
    assert all(now - 600 < p["Timestamp"].timestamp() <= now for p in points)
    assert all(p["Timestamp"].timestamp() % 60 == 0 for p in points)


def test_the_cbor_protocol_gives_the_same_answers(
    workload: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """botocore picks JSON 1.0; other SDKs send the model's first protocol, Smithy RPC
    v2 CBOR. A client made to prefer it gets the same numbers and error codes."""
    import botocore.model

    cbor_first = ("smithy-rpc-v2-cbor", *botocore.model.PRIORITY_ORDERED_SUPPORTED_PROTOCOLS)
    monkeypatch.setattr(botocore.model, "PRIORITY_ORDERED_SUPPORTED_PROTOCOLS", cbor_first)
    cw = boto3_client(workload["server"].url, service="cloudwatch")
    assert cw.meta.service_model.resolved_protocol == "smithy-rpc-v2-cbor"
    assert statistic(cw, "Invocations", {"FunctionName": workload["fn"]}) == 6
    listed = cw.list_metrics(Dimensions=[{"Name": "FunctionName", "Value": workload["fn"]}])
    assert {m["MetricName"] for m in listed["Metrics"]} >= {"Invocations", "Errors", "Duration"}
    with pytest.raises(ClientError) as refused:
        cw.get_metric_statistics(
            Namespace="AWS/Lambda",
            MetricName="Invocations",
            Period=61,
            Statistics=["Sum"],
            **window(),
        )
    assert refused.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_metrics_survive_a_restart(workload: dict[str, Any]) -> None:
    workload["server"].stop()
    with LambdadServer(workload["data_dir"], workload["database_url"]) as again:
        cw = boto3_client(again.url, service="cloudwatch")
        assert statistic(cw, "Invocations", {"FunctionName": workload["fn"]}) == 6
        throttles = statistic(cw, "Throttles", {"FunctionName": workload["capped"]})
        assert throttles == workload["throttled"]


SLOW_START = """
import time
time.sleep(4)  # a cold start longer than an invocation: waiting in line beats it

def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {"ok": True}
"""


@one_process  # the second invoke must reach the process whose environment is busy
def test_a_wait_in_line_for_a_busy_environment_is_a_metric(tmp_path: Path) -> None:
    metrics_port = free_port()
    server = LambdadServer(
        tmp_path / "data",
        args=["--metrics-listen", f"127.0.0.1:{metrics_port}"],
        env={"LAMBDAD_QUEUE_WAIT_MAX_S": "30"},
    )
    with server:
        lam = boto3_client(server.url)
        fn = new_function(lam, "waits", code=make_zip({"app.py": SLOW_START}),
                          Timeout=30)  # fmt: skip
        lam.invoke(FunctionName=fn, Payload=b"{}")  # the cold start: both estimates known
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        with ThreadPoolExecutor(max_workers=1) as pool:
            busy = pool.submit(lam.invoke, FunctionName=fn, Payload=b'{"sleep": 3}')
            wait_until(
                lambda: total(scrape(metrics_url), "lambdad_environments", function_name=fn,
                              state="busy") == 1,
                "its one environment busy",
            )  # fmt: skip
            # Freed within 3 s, a 4 s cold start away: this one waits in line for it.
            assert "FunctionError" not in lam.invoke(FunctionName=fn, Payload=b"{}")
            assert "FunctionError" not in busy.result()
        samples = scrape(metrics_url)
        assert total(samples, "lambdad_queue_wait_seconds_count", function_name=fn) == 1
        assert 0 < total(samples, "lambdad_queue_wait_seconds_sum", function_name=fn) < 30
        assert total(samples, "lambdad_environments", function_name=fn) == 1  # no cold start

        cloudwatch = boto3_client(server.url, service="cloudwatch")
        dims = [{"Name": "FunctionName", "Value": fn}]
        listed = cloudwatch.list_metrics(Namespace="Lambdad", Dimensions=dims)["Metrics"]
        assert [(m["Namespace"], m["MetricName"]) for m in listed] == [
            ("Lambdad", "QueueWaitDuration")
        ]
        now = datetime.now(UTC)
        stats = cloudwatch.get_metric_statistics(
            Namespace="Lambdad", MetricName="QueueWaitDuration", Dimensions=dims,
            StartTime=now - timedelta(minutes=10), EndTime=now + timedelta(minutes=1),
            Period=3600, Statistics=["SampleCount", "Maximum"],
        )  # fmt: skip
        [point] = stats["Datapoints"]
        assert point["SampleCount"] == 1 and point["Unit"] == "Milliseconds"
