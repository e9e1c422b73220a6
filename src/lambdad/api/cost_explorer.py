"""Handlers of Cost Explorer's JSON API (target prefix `AWSInsightsIndexService`, boto3's
`ce` client): GetCostAndUsage and GetCostAndUsageWithResources over `cost.CostExplorer`.

Served by `json_protocol.dispatch`; each needs `ce:<Operation>` on `*`, as on AWS.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import date

from lambdad.api.context import ApiContext
from lambdad.api.shapes import cost as wire
from lambdad.api.shapes import decode_body
from lambdad.cost import CostExplorer, Period, Query
from lambdad.cost.explorer import Amount
from lambdad.errors import ServiceError, ValidationError

DAY = re.compile(r"(\d{4}-\d{2}-\d{2})(T\d{2}:\d{2}:\d{2}Z)?")


async def get_cost_and_usage(ctx: ApiContext, body: bytes) -> wire.GetCostAndUsageResponse:
    return await _report(ctx, body, with_resources=False)


async def get_cost_and_usage_with_resources(
    ctx: ApiContext, body: bytes
) -> wire.GetCostAndUsageResponse:
    return await _report(ctx, body, with_resources=True)


async def _report(
    ctx: ApiContext, body: bytes, with_resources: bool
) -> wire.GetCostAndUsageResponse:
    request = decode_body(body, wire.GetCostAndUsageRequest)
    query = _query(request, with_resources)
    periods = await _explorer(ctx).cost_and_usage(query)
    return wire.GetCostAndUsageResponse(
        group_definitions=[wire.GroupDefinition("DIMENSION", key) for key in query.group_by],
        results_by_time=[_result(p) for p in periods],
        dimension_value_attributes=[],
    )


def _explorer(ctx: ApiContext) -> CostExplorer:
    if ctx.cost_explorer is None:
        raise ServiceError("Cost reports are not configured on this server.")
    return ctx.cost_explorer


def _query(request: wire.GetCostAndUsageRequest, with_resources: bool) -> Query:
    required: list[tuple[str, object]] = [
        ("timePeriod", request.time_period),
        ("granularity", request.granularity),
    ]
    # GetCostAndUsage needs its Metrics, ...WithResources its Filter (as in AWS's model).
    required.append(("filter", request.filter) if with_resources else ("metrics", request.metrics))
    missing = [name for name, value in required if value is None]
    if missing:
        raise ValidationError(f"1 validation error detected: {missing[0]} is required")
    assert request.time_period is not None and request.granularity is not None
    if request.next_page_token is not None:
        raise ValidationError("Invalid NextPageToken: every answer here is one page.")
    group_by = []
    for group in request.group_by or []:
        if group.type != "DIMENSION" or not group.key:
            raise ValidationError("Only DIMENSION groups are supported here.")
        group_by.append(group.key)
    return Query(
        start=_day(request.time_period.start),
        end=_day(request.time_period.end),
        granularity=request.granularity,
        metrics=tuple(request.metrics or ("UnblendedCost",)),
        group_by=tuple(group_by),
        filter=request.filter,
        with_resources=with_resources,
        free_tier=request.lambdad_free_tier,
    )


def _day(value: str) -> date:
    match = DAY.fullmatch(value)
    try:
        if match is None:
            raise ValueError(value)
        return date.fromisoformat(match.group(1))
    except ValueError as exc:
        raise ValidationError(f"Invalid date: {value} (YYYY-MM-DD expected)") from exc


def _result(period: Period) -> wire.ResultByTime:
    return wire.ResultByTime(
        time_period=wire.DateInterval(period.start.isoformat(), period.end.isoformat()),
        total=_values(period.total),
        groups=[wire.Group(list(keys), _values(values)) for keys, values in period.groups],
        estimated=period.estimated,
    )


def _values(values: Mapping[str, Amount]) -> dict[str, wire.MetricValue]:
    return {name: wire.MetricValue(_amount(v.amount), v.unit) for name, v in values.items()}


def _amount(value: float) -> str:
    """Cost Explorer's decimal string (no exponent, trailing zeros dropped)."""
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


OPERATIONS: Mapping[str, Callable[[ApiContext, bytes], Awaitable[object | None]]] = {
    "GetCostAndUsage": get_cost_and_usage,
    "GetCostAndUsageWithResources": get_cost_and_usage_with_resources,
}
