"""lambdad's own: the retention of a function's log group (GET, PUT, DELETE).

    GET    /_lambdad/functions/NAME/logs/retention   {"logGroupName", "retentionInDays"}
    PUT    same, body {"retentionInDays": 7}        (a value CloudWatch allows, or null)
    DELETE same                                     (never expire: AWS's default)

CloudWatch Logs' PutRetentionPolicy / DeleteRetentionPolicy will call the same
`FunctionLogs` methods.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from lambdad.api.bodies import read_body
from lambdad.api.context import ApiContext
from lambdad.api.shapes import decode_body, encode
from lambdad.api.shapes.logs import LogRetention

MAX_BODY = 1024


async def _group(request: Request) -> str:
    ctx = ApiContext.of(request)
    function = await ctx.catalog.get_function(request.path_params["FunctionName"])
    return function.latest.log_group


async def _answer(ctx: ApiContext, group: str) -> Response:
    days = await ctx.logs.retention_days(group)
    body = LogRetention(log_group_name=group, retention_in_days=days)
    return Response(encode(body), media_type="application/json")


async def get_retention(request: Request) -> Response:
    return await _answer(ApiContext.of(request), await _group(request))


async def put_retention(request: Request) -> Response:
    ctx = ApiContext.of(request)
    group = await _group(request)
    body = decode_body(await read_body(request, MAX_BODY, "PutRetentionPolicy"), LogRetention)
    await ctx.logs.put_retention_policy(group, body.retention_in_days)
    return await _answer(ctx, group)


async def delete_retention(request: Request) -> Response:
    ctx = ApiContext.of(request)
    group = await _group(request)
    await ctx.logs.put_retention_policy(group, None)
    return Response(status_code=204)
