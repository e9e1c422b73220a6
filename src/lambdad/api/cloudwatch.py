"""CloudWatch's metric reading operations (botocore's `cloudwatch` model), for
namespace AWS/Lambda (and lambdad's own, Lambdad): GetMetricData, GetMetricStatistics, ListMetrics.

Each operation takes the request's decoded body (a dict, as the CBOR or JSON
protocol decoded it; timestamps as datetimes or epoch numbers) and returns the
output as a dict with timezone-aware datetimes; `api/json_protocol.py` (JSON 1.0,
which boto3 picks) and `api/rpc_cbor.py` (Smithy RPC v2 CBOR, the model's first
protocol) put them on the wire. Metric math (`Expression`) is refused with a ValidationError.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec

from lambdad.api.context import ApiContext
from lambdad.api.params import epoch_seconds
from lambdad.telemetry.errors import (
    MetricNextTokenInvalid,
    MetricParameterCombination,
    MetricParameterInvalid,
    MetricParameterMissing,
    MetricValidationError,
)
from lambdad.telemetry.metric_queries import (
    LIST_WINDOW_S,
    MetricId,
    is_statistic,
    list_metrics,
    periods,
    unit_of,
    value_of,
)

Operation = Callable[[ApiContext, dict[str, Any]], Awaitable[dict[str, Any]]]
MAX_STATISTICS_POINTS = 1440
MAX_DATA_POINTS = 100800
MAX_QUERIES = 500
LIST_PAGE = 500
_QUERY_ID = re.compile(r"[a-z][a-zA-Z0-9_]{0,254}")


def _epoch(value: Any, name: str) -> float:
    seconds = epoch_seconds(value)
    if seconds is None:
        raise MetricParameterInvalid(f"The parameter {name} must be a timestamp.")
    return seconds


def _required(params: Mapping[str, Any], name: str, error: type[Exception]) -> Any:
    value = params.get(name)
    if value is None:
        raise error(f"The parameter {name} is required.")
    return value


def _dims(raw: Any, exact: bool) -> list[tuple[str, str | None]]:
    """Dimensions as (name, value) pairs; `exact` (a metric's) requires values."""
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > 30:
        raise MetricParameterInvalid("The parameter Dimensions must hold at most 30 dimensions.")
    found: list[tuple[str, str | None]] = []
    for item in raw:
        name = item.get("Name") if isinstance(item, dict) else None
        value = item.get("Value") if isinstance(item, dict) else None
        if not isinstance(name, str) or not name or (exact and not isinstance(value, str)):
            raise MetricParameterInvalid("Each dimension must have a Name and a Value.")
        found.append((name, value if isinstance(value, str) else None))
    return found


def _metric(raw: Any) -> MetricId:
    if not isinstance(raw, dict):
        raise MetricParameterMissing("The parameter MetricName is required.")
    namespace = _required(raw, "Namespace", MetricParameterMissing)
    name = _required(raw, "MetricName", MetricParameterMissing)
    pairs = _dims(raw.get("Dimensions"), exact=True)
    dims = tuple(sorted((k, v or "") for k, v in pairs))
    return MetricId(str(namespace), str(name), dims)


def _period(value: Any) -> int:
    if not isinstance(value, int) or value < 60 or value % 60:
        raise MetricParameterInvalid(
            "The parameter Period must be a multiple of 60 (this server keeps 1-minute data)."
        )
    return value


def _time_range(params: Mapping[str, Any], error: type[Exception]) -> tuple[float, float]:
    start = _epoch(_required(params, "StartTime", error), "StartTime")
    end = _epoch(_required(params, "EndTime", error), "EndTime")
    if end <= start:
        raise MetricParameterInvalid("The parameter StartTime must be less than EndTime.")
    return start, end


def _at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


async def get_metric_statistics(ctx: ApiContext, params: dict[str, Any]) -> dict[str, Any]:
    metric = _metric(params)
    start, end = _time_range(params, MetricParameterMissing)
    period = _period(_required(params, "Period", MetricParameterMissing))
    statistics = params.get("Statistics") or []
    extended = params.get("ExtendedStatistics") or []
    if bool(statistics) == bool(extended):
        raise MetricParameterCombination(
            "Must specify either Statistics or ExtendedStatistics, but not both."
        )
    for stat in statistics:
        if stat not in ("SampleCount", "Average", "Sum", "Minimum", "Maximum"):
            raise MetricParameterInvalid(f"The statistic {stat} is not valid.")
    for stat in extended:
        if not isinstance(stat, str) or not is_statistic(stat) or not stat.startswith("p"):
            raise MetricParameterInvalid(f"The extended statistic {stat} is not valid.")
    wanted = int((end - start) // period) + 1
    if wanted > MAX_STATISTICS_POINTS:
        raise MetricParameterCombination(
            f"You have requested up to {wanted} datapoints, which exceeds the limit of "
            f"{MAX_STATISTICS_POINTS}. You may reduce the datapoints requested by increasing "
            "Period, or decreasing the time range."
        )
    unit = unit_of(metric.name)
    if params.get("Unit") not in (None, unit):
        return {"Label": metric.name, "Datapoints": []}
    points = []
    await ctx.metrics.store_others()  # --workers: every process's invocations
    for at, aggregate in await periods(ctx.metrics, ctx.region, metric, start, end, period):
        point: dict[str, Any] = {"Timestamp": _at(at), "Unit": unit}
        for stat in statistics:
            point[stat] = value_of(aggregate, stat)
        if extended:
            point["ExtendedStatistics"] = {s: value_of(aggregate, s) for s in extended}
        points.append(point)
    return {"Label": metric.name, "Datapoints": points}


async def get_metric_data(ctx: ApiContext, params: dict[str, Any]) -> dict[str, Any]:
    queries = params.get("MetricDataQueries")
    if not isinstance(queries, list) or not queries:
        raise MetricValidationError("The parameter MetricDataQueries is required.")
    if len(queries) > MAX_QUERIES:
        raise MetricValidationError(f"MetricDataQueries must hold at most {MAX_QUERIES} queries.")
    start, end = _time_range(params, MetricValidationError)
    ascending = params.get("ScanBy", "TimestampDescending") == "TimestampAscending"
    limit = params.get("MaxDatapoints") or MAX_DATA_POINTS
    offset = _data_token(params.get("NextToken"))
    results = []
    await ctx.metrics.store_others()  # --workers: every process's invocations
    for query in queries:
        result = await _query_result(ctx, query, start, end, ascending)
        if result is not None:
            results.append(result)
    # A page holds `limit` data points of all results in query order, after `offset`
    # points given already; the results ahead of it are answered empty.
    position, taken, more = 0, 0, False
    for result in results:
        pairs = list(zip(result["Timestamps"], result["Values"], strict=True))
        low = min(len(pairs), max(0, offset - position))
        page = pairs[low : low + (limit - taken)]
        taken += len(page)
        position += len(pairs)
        if low + len(page) < len(pairs):
            result["StatusCode"] = "PartialData"
            more = True
        result["Timestamps"] = [t for t, _ in page]
        result["Values"] = [v for _, v in page]
    output: dict[str, Any] = {"MetricDataResults": results, "Messages": []}
    if more:
        output["NextToken"] = base64.urlsafe_b64encode(str(offset + taken).encode()).decode()
    return output


def _data_token(token: Any) -> int:
    if token is None:
        return 0
    try:
        return int(base64.urlsafe_b64decode(str(token)))
    except (ValueError, binascii.Error) as exc:
        raise MetricNextTokenInvalid("The service cannot process the NextToken.") from exc


async def _query_result(
    ctx: ApiContext, query: Any, start: float, end: float, ascending: bool
) -> dict[str, Any] | None:
    if not isinstance(query, dict):
        raise MetricValidationError("Each MetricDataQuery must be a structure.")
    query_id = query.get("Id")
    if not isinstance(query_id, str) or not _QUERY_ID.fullmatch(query_id):
        raise MetricValidationError(
            "The value for each MetricDataQuery Id must start with a lowercase letter and "
            "hold only letters, digits and underscores."
        )
    if query.get("Expression") is not None:
        raise MetricValidationError(
            f"Error in expression '{query_id}': metric math expressions are not supported "
            "by this server; query MetricStat."
        )
    stat_query = query.get("MetricStat")
    if not isinstance(stat_query, dict):
        raise MetricValidationError(
            f"The MetricDataQuery '{query_id}' must have exactly one of MetricStat or Expression."
        )
    metric = _metric(stat_query.get("Metric"))
    stat = stat_query.get("Stat")
    if not isinstance(stat, str) or not is_statistic(stat):
        raise MetricValidationError(f"The value {stat} for parameter MetricStat.Stat is invalid.")
    period = _required(stat_query, "Period", MetricValidationError)
    if not isinstance(period, int) or period < 60 or period % 60:
        raise MetricValidationError(
            "The parameter MetricStat.Period must be a multiple of 60 (1-minute data)."
        )
    if query.get("ReturnData") is False:
        return None
    found = await periods(ctx.metrics, ctx.region, metric, start, end, period)
    if not ascending:
        found.reverse()
    return {
        "Id": query_id,
        "Label": query.get("Label") or metric.name,
        "Timestamps": [_at(at) for at, _ in found],
        "Values": [value_of(aggregate, stat) for _, aggregate in found],
        "StatusCode": "Complete",
        "Messages": [],
    }


async def list_metrics_operation(ctx: ApiContext, params: dict[str, Any]) -> dict[str, Any]:
    wanted = _dims(params.get("Dimensions"), exact=False)
    recently = params.get("RecentlyActive")
    if recently not in (None, "PT3H"):
        raise MetricParameterInvalid("The parameter RecentlyActive must be PT3H.")
    since = time.time() - (3 * 3600.0 if recently else LIST_WINDOW_S)
    await ctx.metrics.store_others()  # --workers: every process's invocations
    found = await list_metrics(
        ctx.metrics, ctx.region, since, params.get("Namespace"), params.get("MetricName"), wanted
    )
    offset = 0
    if params.get("NextToken") is not None:
        try:
            offset = int(base64.urlsafe_b64decode(str(params["NextToken"])))
        except (ValueError, binascii.Error) as exc:
            raise MetricParameterInvalid("The service cannot process the NextToken.") from exc
    page = found[offset : offset + LIST_PAGE]
    output: dict[str, Any] = {
        "Metrics": [
            {
                "Namespace": m.namespace,
                "MetricName": m.name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in m.dims],
            }
            for m in page
        ]
    }
    if offset + LIST_PAGE < len(found):
        output["NextToken"] = base64.urlsafe_b64encode(str(offset + LIST_PAGE).encode()).decode()
    return output


OPERATIONS: Mapping[str, Operation] = {
    "GetMetricData": get_metric_data,
    "GetMetricStatistics": get_metric_statistics,
    "ListMetrics": list_metrics_operation,
}


def _json_ready(value: Any) -> Any:
    """Datetimes as the JSON protocol's epoch seconds."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    return value


def _over_json(operation: Operation) -> Callable[[ApiContext, bytes], Awaitable[object]]:
    async def run(ctx: ApiContext, body: bytes) -> object:
        try:
            params = msgspec.json.decode(body or b"{}")
        except (msgspec.DecodeError, RecursionError) as exc:
            raise MetricValidationError("The request body is not valid JSON.") from exc
        if not isinstance(params, dict):
            raise MetricValidationError("The request body must be a JSON object.")
        return _json_ready(await operation(ctx, params))

    return run


JSON_OPERATIONS = {name: _over_json(operation) for name, operation in OPERATIONS.items()}
"""The same operations in AWS's JSON 1.0 protocol (X-Amz-Target), which botocore
prefers among the protocols the model declares."""
