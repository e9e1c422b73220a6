"""X-Ray's trace reading operations (botocore's `xray` model, rest-json):
GetTraceSummaries (`POST /TraceSummaries`) and BatchGetTraces (`POST /Traces`),
over the traces lambdad keeps (the newest segments, see `telemetry/tracing.py`).

A trace's summary covers its segments in the store: one per traced invocation
(a sync invoke, the async invoke and its destination's all share the root).
FilterExpression understands `service("name")` (a function name) and
`id("trace id")`; anything else is refused with InvalidRequestException.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from lambdad.api.bodies import read_body
from lambdad.api.context import ApiContext
from lambdad.api.params import epoch_seconds
from lambdad.api.shapes import encode
from lambdad.store import SegmentRow
from lambdad.telemetry.errors import XRayInvalidRequest

MAX_BODY = 64 * 1024
PAGE = 100
MAX_SCAN = 20000
"""Segments one GetTraceSummaries call reads at most (the store keeps ~10000)."""
MAX_TRACE_IDS = 5
_FILTER = re.compile(r'\s*(service|id)\(\s*"([^"]{1,128})"\s*\)\s*')


async def _params(request: Request, operation: str) -> dict[str, Any]:
    body = await read_body(request, MAX_BODY, operation)
    try:
        params = msgspec.json.decode(body or b"{}")
    except (msgspec.DecodeError, RecursionError) as exc:
        raise XRayInvalidRequest("The request body is not valid JSON.") from exc
    if not isinstance(params, dict):
        raise XRayInvalidRequest("The request body must be a JSON object.")
    return params


def _epoch(value: Any, name: str) -> float:
    seconds = epoch_seconds(value)
    if seconds is None:
        raise XRayInvalidRequest(f"{name} must be a timestamp.")
    return seconds


def _matches(filter_expression: str | None) -> Any:
    if not filter_expression:
        return lambda segments: True
    found = _FILTER.fullmatch(filter_expression)
    if found is None:
        raise XRayInvalidRequest(
            f"Unsupported filter expression: {filter_expression[:200]!r} (this server "
            'understands service("name") and id("trace id"))'
        )
    kind, value = found.groups()
    if kind == "service":
        return lambda segments: any(s.function_name == value for s in segments)
    return lambda segments: segments[0].trace_id == value


def _summary(trace_id: str, segments: list[SegmentRow], account_id: str) -> dict[str, Any]:
    first = min(segments, key=lambda s: s.start_time)
    names = sorted({s.function_name for s in segments})
    return {
        "Id": trace_id,
        "StartTime": first.start_time,
        "Duration": max(s.end_time for s in segments) - first.start_time,
        "ResponseTime": first.end_time - first.start_time,
        "HasFault": any(s.fault for s in segments),
        "HasError": any(s.error for s in segments),
        "HasThrottle": False,
        "IsPartial": False,
        "ServiceIds": [
            {"Name": n, "Names": [n], "AccountId": account_id, "Type": "AWS::Lambda::Function"}
            for n in names
        ],
        "ResourceARNs": [{"ARN": arn} for arn in sorted({_arn(s) for s in segments})],
        "EntryPoint": {
            "Name": first.function_name,
            "Names": [first.function_name],
            "AccountId": account_id,
            "Type": "AWS::Lambda::Function",
        },
    }


def _arn(segment: SegmentRow) -> str:
    return str(segment.document.get("resource_arn", ""))


def _offset(token: Any) -> int:
    if token is None:
        return 0
    try:
        return max(0, int(str(token)))
    except ValueError as exc:
        raise XRayInvalidRequest("The NextToken is not valid.") from exc


async def get_trace_summaries(request: Request) -> Response:
    ctx = ApiContext.of(request)
    params = await _params(request, "GetTraceSummaries")
    if params.get("StartTime") is None or params.get("EndTime") is None:
        raise XRayInvalidRequest("StartTime and EndTime are required.")
    start = _epoch(params["StartTime"], "StartTime")
    end = _epoch(params["EndTime"], "EndTime")
    if end < start:
        raise XRayInvalidRequest("EndTime must be after StartTime.")
    matches = _matches(params.get("FilterExpression"))
    rows = await ctx.tracing.segments_in_range(ctx.region, start, end, MAX_SCAN)
    by_trace: dict[str, list[SegmentRow]] = {}
    for row in rows:
        by_trace.setdefault(row.trace_id, []).append(row)
    summaries = [
        _summary(trace_id, segments, ctx.account.account_id)
        for trace_id, segments in by_trace.items()
        if matches(segments)
    ]
    offset = _offset(params.get("NextToken"))
    output: dict[str, Any] = {
        "TraceSummaries": summaries[offset : offset + PAGE],
        "ApproximateTime": datetime.now(UTC).timestamp(),
        "TracesProcessedCount": len(by_trace),
    }
    if offset + PAGE < len(summaries):
        output["NextToken"] = str(offset + PAGE)
    return Response(encode(output), media_type="application/json")


async def batch_get_traces(request: Request) -> Response:
    ctx = ApiContext.of(request)
    params = await _params(request, "BatchGetTraces")
    wanted = params.get("TraceIds")
    if not isinstance(wanted, list) or not all(isinstance(t, str) for t in wanted):
        raise XRayInvalidRequest("TraceIds is required: a list of trace ids.")
    offset = _offset(params.get("NextToken"))
    page = wanted[offset : offset + MAX_TRACE_IDS]
    rows = await ctx.tracing.segments_of(ctx.region, page)
    by_trace: dict[str, list[SegmentRow]] = {}
    for row in rows:
        by_trace.setdefault(row.trace_id, []).append(row)
    traces = []
    for trace_id in page:
        segments = by_trace.get(trace_id)
        if not segments:
            continue
        started = min(s.start_time for s in segments)
        traces.append(
            {
                "Id": trace_id,
                "Duration": max(s.end_time for s in segments) - started,
                "LimitExceeded": False,
                "Segments": [
                    {"Id": s.id, "Document": msgspec.json.encode(s.document).decode()}
                    for s in segments
                ],
            }
        )
    output: dict[str, Any] = {
        "Traces": traces,
        "UnprocessedTraceIds": [t for t in page if t not in by_trace],
    }
    if offset + MAX_TRACE_IDS < len(wanted):
        output["NextToken"] = str(offset + MAX_TRACE_IDS)
    return Response(encode(output), media_type="application/json")
