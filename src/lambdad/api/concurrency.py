"""Handlers for reserved concurrency, provisioned concurrency and recursion configs."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from lambdad.api.context import ApiContext
from lambdad.api.convert import format_timestamp
from lambdad.api.params import int_param
from lambdad.api.shapes import concurrency as shapes
from lambdad.api.shapes import decode_body, encode
from lambdad.pool import ProvisionedStatus
from lambdad.store import ProvisionedRow

JSON = "application/json"
DEFAULT_PAGE = 50


def _json(value: object, status: int = 200) -> Response:
    return Response(encode(value), status_code=status, media_type=JSON)


def _name(request: Request) -> str:
    return str(request.path_params["FunctionName"])


async def put_function_concurrency(request: Request) -> Response:
    ctx = ApiContext.of(request)
    body = decode_body(await request.body(), shapes.PutFunctionConcurrencyRequest)
    wanted = body.reserved_concurrent_executions
    reserved = await ctx.concurrency.put_reserved(_name(request), wanted)
    return _json(shapes.ConcurrencyShape(reserved_concurrent_executions=reserved))


async def get_function_concurrency(request: Request) -> Response:
    ctx = ApiContext.of(request)
    reserved = await ctx.concurrency.get_reserved(_name(request))
    return _json(shapes.ConcurrencyShape(reserved_concurrent_executions=reserved))


async def delete_function_concurrency(request: Request) -> Response:
    ctx = ApiContext.of(request)
    await ctx.concurrency.delete_reserved(_name(request))
    return Response(status_code=204)


async def put_provisioned_concurrency_config(request: Request) -> Response:
    ctx = ApiContext.of(request)
    body = decode_body(await request.body(), shapes.PutProvisionedConcurrencyConfigRequest)
    qualifier = request.query_params.get("Qualifier")
    requested = body.provisioned_concurrent_executions
    row = await ctx.concurrency.put_provisioned(_name(request), qualifier, requested)
    await ctx.provisioner.wake()
    return _json(_config(ctx, row), status=202)


async def get_provisioned_concurrency_config(request: Request) -> Response:
    """GET .../provisioned-concurrency serves Get (?Qualifier=) and List (?List=ALL)."""
    ctx = ApiContext.of(request)
    params = request.query_params
    if params.get("List") == "ALL":
        max_items = int_param(params.get("MaxItems"), "MaxItems", default=DEFAULT_PAGE)
        rows, marker = await ctx.concurrency.list_provisioned(
            _name(request), params.get("Marker"), max_items
        )
        return _json(
            shapes.ListProvisionedConcurrencyConfigsResponse(
                provisioned_concurrency_configs=[_config(ctx, r, with_arn=True) for r in rows],
                next_marker=marker,
            )
        )
    row = await ctx.concurrency.get_provisioned(_name(request), params.get("Qualifier"))
    return _json(_config(ctx, row))


async def delete_provisioned_concurrency_config(request: Request) -> Response:
    ctx = ApiContext.of(request)
    await ctx.concurrency.delete_provisioned(_name(request), request.query_params.get("Qualifier"))
    await ctx.provisioner.wake()
    return Response(status_code=204)


async def put_function_recursion_config(request: Request) -> Response:
    ctx = ApiContext.of(request)
    body = decode_body(await request.body(), shapes.RecursionConfig)
    value = await ctx.concurrency.put_recursion(_name(request), body.recursive_loop)
    return _json(shapes.RecursionConfig(recursive_loop=value))


async def get_function_recursion_config(request: Request) -> Response:
    ctx = ApiContext.of(request)
    value = await ctx.concurrency.get_recursion(_name(request))
    return _json(shapes.RecursionConfig(recursive_loop=value))


def _config(
    ctx: ApiContext, row: ProvisionedRow, with_arn: bool = False
) -> shapes.ProvisionedConcurrencyConfig:
    function_arn = ctx.account.function_arn(row.function_name)  # the pool's name for it
    allocation = ctx.provisioner.allocation(function_arn, row.qualifier, row.requested)
    return shapes.ProvisionedConcurrencyConfig(
        requested_provisioned_concurrent_executions=row.requested,
        available_provisioned_concurrent_executions=allocation.available,
        allocated_provisioned_concurrent_executions=allocation.allocated,
        status=allocation.status.value,
        status_reason=allocation.status_reason
        if allocation.status is ProvisionedStatus.FAILED
        else None,
        last_modified=format_timestamp(row.last_modified),
        function_arn=ctx.account.function_arn(row.function_name, row.qualifier)
        if with_arn
        else None,
    )
