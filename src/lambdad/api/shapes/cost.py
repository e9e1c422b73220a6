"""Wire shapes of Cost Explorer's GetCostAndUsage (and ...WithResources), as botocore's
`ce` model names them."""

from __future__ import annotations

from typing import Any

from lambdad.api.shapes.functions import Shape


class DateInterval(Shape):
    start: str
    end: str


class GroupDefinition(Shape):
    type: str | None = None
    key: str | None = None


class GetCostAndUsageRequest(Shape):
    time_period: DateInterval | None = None
    granularity: str | None = None
    filter: dict[str, Any] | None = None
    metrics: list[str] | None = None
    group_by: list[GroupDefinition] | None = None
    billing_view_arn: str | None = None
    next_page_token: str | None = None
    lambdad_free_tier: bool | None = None
    """lambdad's own member (`LambdadFreeTier`): price with AWS's free tier or without,
    whatever the server's setting (the CLI's --no-free-tier)."""


class MetricValue(Shape):
    amount: str
    unit: str


class Group(Shape):
    keys: list[str]
    metrics: dict[str, MetricValue]


class ResultByTime(Shape):
    time_period: DateInterval
    total: dict[str, MetricValue]
    groups: list[Group]
    estimated: bool


class GetCostAndUsageResponse(Shape):
    group_definitions: list[GroupDefinition]
    results_by_time: list[ResultByTime]
    dimension_value_attributes: list[dict[str, Any]]
