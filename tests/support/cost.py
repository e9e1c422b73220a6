"""Cost Explorer's figures for one function, as tests read them."""

from __future__ import annotations

from typing import Any

from support.server import ACCOUNT_ID, REGION, boto3_client


def usage_by_type(url: str, function_name: str) -> dict[str, float]:
    """UsageQuantity by usage type, of every period, for the function `function_name`."""
    ce: Any = boto3_client(url, service="ce")
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_name}"
    answer = ce.get_cost_and_usage_with_resources(
        TimePeriod={"Start": "2000-01-01", "End": "2100-01-01"},
        Granularity="MONTHLY",
        Metrics=["UsageQuantity"],
        Filter={"Dimensions": {"Key": "RESOURCE_ID", "Values": [arn]}},
        GroupBy=[{"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
    )
    return {
        g["Keys"][0]: float(g["Metrics"]["UsageQuantity"]["Amount"])
        for period in answer["ResultsByTime"]
        for g in period["Groups"]
    }
