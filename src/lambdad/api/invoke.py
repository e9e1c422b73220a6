"""Handlers for Invoke and InvokeAsync: headers in, InvokeResult out as headers."""

from __future__ import annotations

import base64

from starlette.requests import Request
from starlette.responses import Response

from lambdad.api.asgi_headers import first_headers
from lambdad.api.bodies import read_body
from lambdad.api.context import ApiContext
from lambdad.api.params import enum_value, int_in_range
from lambdad.catalog import LATEST
from lambdad.errors import InvalidParameterValue
from lambdad.invoke import (
    MAX_ASYNC_PAYLOAD,
    MAX_SYNC_PAYLOAD,
    check_client_context,
    check_payload,
    new_trace_root,
)

INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")
LOG_TYPES = ("None", "Tail")
MAX_LOG_EVENTS = 10_000
LAST_LOG_ID = 2**63 - 1  # log event ids are SQL BIGINTs
_INVOKE_HEADERS = frozenset(
    {b"x-amz-invocation-type", b"x-amz-log-type", b"x-amz-client-context", b"x-amzn-trace-id"}
)


async def _payload(request: Request, limit: int, operation: str = "InvokeFunction") -> bytes:
    return await read_body(request, limit, operation, raw=True)


async def invoke(request: Request) -> Response:
    ctx = ApiContext.of(request)
    sent = first_headers(request.scope, _INVOKE_HEADERS)
    invocation_type = sent.get(b"x-amz-invocation-type", "RequestResponse")
    if invocation_type not in INVOCATION_TYPES:
        raise InvalidParameterValue(
            f"1 validation error detected: Value '{invocation_type}' at 'invocationType' failed "
            "to satisfy constraint: Member must satisfy enum value set: "
            "[Event, RequestResponse, DryRun]"
        )
    log_type = enum_value(sent.get(b"x-amz-log-type", "None"), "logType", LOG_TYPES)
    client_context = check_client_context(sent.get(b"x-amz-client-context"))
    limit = MAX_ASYNC_PAYLOAD if invocation_type == "Event" else MAX_SYNC_PAYLOAD
    payload = check_payload(await _payload(request, limit), limit)
    ref = ctx.resolve(request)
    target = await ctx.invoker.resolve(ref.name, ref.qualifier)
    version = target.version
    headers = {"X-Amz-Executed-Version": version.version}
    trace_id = sent.get(b"x-amzn-trace-id") or new_trace_root()
    if invocation_type == "DryRun":
        return Response(status_code=204, headers=headers)
    if invocation_type == "Event":
        # The qualifier as invoked: its event invoke config applies, and an
        # alias is resolved when the event runs.
        request_id = await ctx.async_queue.enqueue(
            ctx.region, version.function_name, ref.qualifier or LATEST, payload, trace_id
        )
        return Response(status_code=202, headers={**headers, "x-amzn-RequestId": request_id})
    result = await ctx.invoker.invoke(
        target,
        payload,
        client_context=client_context,
        want_log_tail=log_type == "Tail",
        trace_id=trace_id,
        request_id=request.scope.get("state", {}).get("request_id"),  # request.state's
    )
    if result.function_error:
        headers["X-Amz-Function-Error"] = result.function_error
    if result.log_tail is not None:
        headers["X-Amz-Log-Result"] = base64.b64encode(result.log_tail).decode()
    return Response(result.payload, status_code=200, headers=headers, media_type="application/json")


async def invoke_async(request: Request) -> Response:
    """The legacy InvokeAsync (2014-11-13): always an Event invocation."""
    ctx = ApiContext.of(request)
    body = await _payload(request, MAX_ASYNC_PAYLOAD, "InvokeAsync")
    payload = check_payload(body, MAX_ASYNC_PAYLOAD)
    version = (await ctx.invoker.resolve(request.path_params["FunctionName"], None)).version
    await ctx.async_queue.enqueue(
        ctx.region, version.function_name, LATEST, payload, new_trace_root()
    )
    return Response(b'{"Status": 202}', status_code=202, media_type="application/json")


async def function_logs(request: Request) -> Response:
    """lambdad's own: a function's log events after an id (for `lambdad logs`)."""
    from lambdad.api.shapes import encode

    ctx = ApiContext.of(request)
    function = await ctx.catalog.get_function(request.path_params["FunctionName"])
    params = request.query_params
    after = int_in_range(params, "after", 0, 0, LAST_LOG_ID, "after")
    limit = int_in_range(params, "limit", 1000, 1, MAX_LOG_EVENTS, "limit")
    if request.query_params.get("tail"):
        after = await ctx.logs.tail_start(function.latest.log_group, limit)
    events = await ctx.logs.read(function.latest.log_group, after, limit)
    body = {
        "logGroupName": function.latest.log_group,
        "events": [
            {
                "id": e.id,
                "timestamp": e.timestamp_ms,
                "logStreamName": e.log_stream,
                "message": e.message,
            }
            for e in events
        ],
        "nextAfter": events[-1].id if events else after,
    }
    return Response(encode(body), media_type="application/json")
