"""Cost through boto3's `ce` client and `lambdad cost`, against a hand-computed bill.

A server of its own gets a known workload written into its usage tables (two past
months: October over the free tier, November under it, with provisioned
concurrency) and answers Cost Explorer's GetCostAndUsage(WithResources) with AWS's
us-east-1 prices: the figures below are computed by hand (see
tests/unit/cost/test_bill.py for the arithmetic). Invocations of a real function
are recorded with their REPORT lines' billed duration and memory size.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from lambdad.settings import Settings
from lambdad.store import InvocationRecord, ProvisionedSample, UsageStore, create_engine
from support.cost import usage_by_type
from support.lambda_calls import new_function
from support.marks import needs_sandbox
from support.server import (
    LambdadServer,
    aws_env,
    boto3_client,
    http_auth,
    lambdad_command,
)
from support.waiting import wait_until

pytestmark = pytest.mark.compat

LAMBDA = {"Dimensions": {"Key": "SERVICE", "Values": ["AWS Lambda"]}}
PERIOD = {"Start": "2026-10-01", "End": "2026-12-01"}


@pytest.fixture
def costly(tmp_path: Path, own_database_url: str | None) -> Iterator[LambdadServer]:
    with LambdadServer(tmp_path / "data", own_database_url) as server:
        url = Settings(data_dir=server.data_dir, database_url=own_database_url).sqlalchemy_url
        engine = create_engine(url)
        try:
            UsageStore(engine).add(*workload())
        finally:
            engine.dispose()
        yield server


def workload() -> tuple[list[InvocationRecord], list[ProvisionedSample]]:
    october, november = 1_792_065_600.0, 1_793_707_200.0  # 2026-10-15, 2026-11-03 12:00 UTC

    def invocations(
        n: int, function: str, ms: int, mb: int, day: str, at: float, **more: Any
    ) -> list[InvocationRecord]:
        base = {"architecture": "x86_64", "provisioned": False, **more}
        return [
            InvocationRecord("us-east-1", function, "$LATEST", day, at, ms, mb, **base)
            for _ in range(n)
        ]

    records = [
        *invocations(100, "big", 900_000, 10240, "2026-10-15", october),  # 900,000 GB-s
        *invocations(50, "arm", 600_000, 2048, "2026-10-15", october, architecture="arm64"),
        *invocations(40, "big", 900_000, 10240, "2026-11-03", november),  # 360,000 GB-s
        *invocations(1, "big", 10_000, 1024, "2026-11-03", november, provisioned=True),
    ]
    sample = ProvisionedSample(
        "us-east-1", "big", "live", "2026-11-03", november, 3600, 2, 1024, "x86_64"
    )
    return records, [sample]


def cost_of(result: dict[str, Any]) -> float:
    return float(result["Total"]["UnblendedCost"]["Amount"])


def test_get_cost_and_usage_by_month_with_and_without_the_free_tier(costly: LambdadServer) -> None:
    ce = boto3_client(costly.url, service="ce")
    answer = ce.get_cost_and_usage(
        TimePeriod=PERIOD, Granularity="MONTHLY", Metrics=["UnblendedCost", "UsageQuantity"]
    )
    october, november = answer["ResultsByTime"]
    assert october["TimePeriod"] == {"Start": "2026-10-01", "End": "2026-11-01"}
    assert not october["Estimated"]
    assert cost_of(october) == pytest.approx(9.2166865, abs=1e-8)
    assert cost_of(november) == pytest.approx(0.030097662, abs=1e-8)
    assert october["Total"]["UnblendedCost"]["Unit"] == "USD"
    assert october["Total"]["UsageQuantity"] == {"Amount": "960150", "Unit": "N/A"}

    by_type = ce.get_cost_and_usage(
        TimePeriod=PERIOD,
        Granularity="MONTHLY",
        Metrics=["UsageQuantity"],
        GroupBy=[{"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
        Filter={"Dimensions": {"Key": "USAGE_TYPE", "Values": ["Lambda-GB-Second-ARM"]}},
    )
    assert by_type["GroupDefinitions"] == [{"Type": "DIMENSION", "Key": "USAGE_TYPE"}]
    [group] = by_type["ResultsByTime"][0]["Groups"]
    assert group == {
        "Keys": ["Lambda-GB-Second-ARM"],
        "Metrics": {"UsageQuantity": {"Amount": "60000", "Unit": "GB-Seconds"}},
    }
    assert by_type["ResultsByTime"][1]["Groups"] == []


def test_lambdad_cost_prints_the_bill_per_function_and_day(costly: LambdadServer) -> None:
    def cost(*args: str) -> subprocess.CompletedProcess[str]:
        env = aws_env(endpoint=costly.url)
        env.pop("LAMBDAD_ENDPOINT", None)
        command = [*lambdad_command("cost", *args), "--endpoint", costly.url]
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
        assert done.returncode == 0, done.stderr
        return done

    rows = json.loads(cost("--since", "2026-10-01", "--json").stdout)
    by_name = {r["function"]: r for r in rows}
    assert by_name["arm"]["gb_seconds"] == pytest.approx(60_000)
    assert by_name["big"]["requests"] == 141
    assert by_name["big"]["gb_seconds"] == pytest.approx(1_260_010)
    assert by_name["big"]["provisioned_gb_seconds"] == pytest.approx(7_200)
    assert sum(r["cost_usd"] for r in rows) == pytest.approx(9.246784162, abs=1e-7)

    without = json.loads(cost("--since", "2026-10-01", "--no-free-tier", "--json").stdout)
    assert sum(r["cost_usd"] for r in without) == pytest.approx(21.830181662, abs=1e-7)

    days = json.loads(cost("--since", "2026-10-01", "--by", "day", "--json").stdout)
    assert [d["day"] for d in days] == ["2026-10-15", "2026-11-03"]

    table = cost("--since", "2026-10-01").stdout
    assert re.search(r"\nbig\s+141\s+1,260,010\.000\s+7,200\.0\s+\$8\.78011", table), table
    assert re.search(r"\nTOTAL\s+191\s.*\$9\.24678", table), table


def test_bad_queries_get_aws_errors(costly: LambdadServer) -> None:
    ce = boto3_client(costly.url, service="ce", validate=False)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"TimePeriod": {"Start": "2026-11-01", "End": "2026-10-01"}}, "Start date"),
        ({"TimePeriod": PERIOD, "Granularity": "HOURLY"}, "HOURLY"),
        ({"TimePeriod": PERIOD, "Metrics": ["Bogus"]}, "Bogus"),
        (
            {"TimePeriod": PERIOD, "GroupBy": [{"Type": "DIMENSION", "Key": "RESOURCE_ID"}]},
            "WithResources",
        ),
    ]
    for params, message in cases:
        request = {"Granularity": "MONTHLY", "Metrics": ["UnblendedCost"], **params}
        with pytest.raises(ClientError) as exc:
            ce.get_cost_and_usage(**request)
        assert exc.value.response["Error"]["Code"] == "ValidationException"
        assert message in exc.value.response["Error"]["Message"]


@needs_sandbox[0]
@needs_sandbox[1]
def test_invocations_are_recorded_with_their_report(
    server: LambdadServer, lambda_client: Any
) -> None:
    name = new_function(lambda_client, "billed", MemorySize=256)
    for _ in range(3):
        lambda_client.invoke(FunctionName=name, Payload=b"{}")
    logs = httpx.get(
        f"{server.url}/_lambdad/functions/{name}/logs", auth=http_auth(server.url), timeout=10
    ).json()["events"]
    billed = [int(m) for e in logs for m in re.findall(r"Billed Duration: (\d+) ms", e["message"])]
    assert len(billed) == 3
    expected = sum(billed) / 1000 * 256 / 1024

    def recorded() -> dict[str, float] | None:
        found = usage_by_type(server.url, name)
        return found if found.get("Request") == 3 else None

    usage = wait_until(recorded, "the invocations' usage to be written")
    assert usage["Lambda-GB-Second"] == pytest.approx(expected, abs=1e-9)
