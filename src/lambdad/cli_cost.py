"""`lambdad cost`: what the workload would cost on AWS Lambda, from Cost Explorer's API.

The command asks the server's `GetCostAndUsageWithResources` (AWS Lambda, grouped
by function ARN or by day, and by usage type) and folds the usage types into a
table: requests, GB-seconds (billed duration x memory, on demand and on
provisioned concurrency), provisioned concurrency's GB-seconds, and the cost.
"""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import click

from lambdad.cost import PriceTable

SINCE = re.compile(r"(\d+)d")
COLUMNS = ("requests", "gb_seconds", "provisioned_gb_seconds", "cost_usd")


def check_prices(path: str) -> None:
    """Refuse to start with a price file that is not a price table."""
    if path:
        try:
            PriceTable.load(path)
        except Exception as exc:
            raise click.BadParameter(str(exc), param_hint="--prices") from exc


def window(since: str, today: date | None = None) -> tuple[date, date]:
    """[start, end) of `--since`: `30d` (the last 30 days and today) or a date."""
    today = today or datetime.now(UTC).date()
    match = SINCE.fullmatch(since.strip())
    try:
        start = today - timedelta(days=int(match.group(1))) if match else date.fromisoformat(since)
    except ValueError as exc:
        raise click.BadParameter("30d (days back) or YYYY-MM-DD", param_hint="--since") from exc
    if start > today:
        raise click.BadParameter("the start is after today", param_hint="--since")
    return start, today + timedelta(days=1)


def request(start: date, end: date, by: str, free_tier: bool | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
        "Granularity": "DAILY" if by == "day" else "MONTHLY",
        "Filter": {"Dimensions": {"Key": "SERVICE", "Values": ["AWS Lambda"]}},
        "Metrics": ["UnblendedCost", "UsageQuantity"],
        "GroupBy": [{"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
    }
    if by == "function":
        body["GroupBy"].insert(0, {"Type": "DIMENSION", "Key": "RESOURCE_ID"})
    if free_tier is not None:
        body["LambdadFreeTier"] = free_tier
    return body


def rows(answer: dict[str, Any], by: str) -> list[dict[str, Any]]:
    """One row per function (or day): the usage types folded into COLUMNS."""
    found: dict[str, dict[str, float]] = defaultdict(lambda: dict.fromkeys(COLUMNS, 0.0))
    for period in answer["ResultsByTime"]:
        for group in period["Groups"]:
            key = (
                group["Keys"][0].rsplit(":", 1)[-1]
                if by == "function"
                else period["TimePeriod"]["Start"]
            )
            usage_type = group["Keys"][-1]
            quantity = float(group["Metrics"]["UsageQuantity"]["Amount"])
            row = found[key]
            if "Provisioned-Concurrency" in usage_type:
                row["provisioned_gb_seconds"] += quantity
            elif "GB-Second" in usage_type:
                row["gb_seconds"] += quantity
            elif "Request" in usage_type:
                row["requests"] += quantity
            row["cost_usd"] += float(group["Metrics"]["UnblendedCost"]["Amount"])
    label = "function" if by == "function" else "day"
    return [{label: key, **values} for key, values in sorted(found.items())]


def table(found: list[dict[str, Any]], by: str) -> str:
    label = "FUNCTION" if by == "function" else "DAY"
    lines = [f"{label:<40} {'REQUESTS':>12} {'GB-SECONDS':>14} {'PROV. GB-S':>12} {'AWS COST':>12}"]
    totals = dict.fromkeys(COLUMNS, 0.0)
    for row in found:
        for column in COLUMNS:
            totals[column] += row[column]
        lines.append(_line(str(row["function" if by == "function" else "day"]), row))
    lines.append(_line("TOTAL", totals))
    return "\n".join(lines)


def _line(name: str, row: dict[str, Any]) -> str:
    return (
        f"{name:<40} {int(row['requests']):>12,} {row['gb_seconds']:>14,.3f} "
        f"{row['provisioned_gb_seconds']:>12,.1f} {'$' + format(row['cost_usd'], ',.6f'):>12}"
    )
