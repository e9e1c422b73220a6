"""Handlers for the event invoke config operations: parse, call the catalog, render."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from lambdad.api import shapes
from lambdad.api.context import ApiContext
from lambdad.api.params import optional_int_param
from lambdad.api.shapes import event_invoke as wire
from lambdad.catalog import EventInvokeChanges, EventInvokeConfig

Write = Callable[[str, str | None, EventInvokeChanges], Awaitable[EventInvokeConfig]]


def _json(value: object) -> Response:
    return Response(shapes.encode(value), media_type="application/json")


def _changes(body: wire.EventInvokeConfigRequest) -> EventInvokeChanges:
    destinations = body.destination_config
    return EventInvokeChanges(
        maximum_retry_attempts=body.maximum_retry_attempts,
        maximum_event_age_s=body.maximum_event_age_in_seconds,
        destinations=None
        if destinations is None
        else (
            destinations.on_success.destination if destinations.on_success else None,
            destinations.on_failure.destination if destinations.on_failure else None,
        ),
    )


def _render(ctx: ApiContext, config: EventInvokeConfig) -> wire.FunctionEventInvokeConfig:
    return wire.FunctionEventInvokeConfig(
        last_modified=round(config.last_modified, 3),
        function_arn=ctx.event_invoke_configs.qualified_arn(config),
        maximum_retry_attempts=config.maximum_retry_attempts,
        maximum_event_age_in_seconds=config.maximum_event_age_s,
        destination_config=wire.RenderedDestinationConfig(
            on_success=wire.DestinationShape(destination=config.on_success),
            on_failure=wire.DestinationShape(destination=config.on_failure),
        ),
    )


async def put_function_event_invoke_config(request: Request) -> Response:
    return await _write(request, ApiContext.of(request).event_invoke_configs.put)


async def update_function_event_invoke_config(request: Request) -> Response:
    return await _write(request, ApiContext.of(request).event_invoke_configs.update)


async def _write(request: Request, operation: Write) -> Response:
    """Put and Update: the same request, applied by `operation`."""
    ctx = ApiContext.of(request)
    body = shapes.decode_body(await request.body(), wire.EventInvokeConfigRequest)
    config = await operation(
        request.path_params["FunctionName"], request.query_params.get("Qualifier"), _changes(body)
    )
    return _json(_render(ctx, config))


async def get_function_event_invoke_config(request: Request) -> Response:
    ctx = ApiContext.of(request)
    config = await ctx.event_invoke_configs.get(
        request.path_params["FunctionName"], request.query_params.get("Qualifier")
    )
    return _json(_render(ctx, config))


async def delete_function_event_invoke_config(request: Request) -> Response:
    ctx = ApiContext.of(request)
    await ctx.event_invoke_configs.delete(
        request.path_params["FunctionName"], request.query_params.get("Qualifier")
    )
    return Response(status_code=204)


async def list_function_event_invoke_configs(request: Request) -> Response:
    ctx = ApiContext.of(request)
    max_items = optional_int_param(request.query_params, "MaxItems")
    page = await ctx.event_invoke_configs.list(
        request.path_params["FunctionName"], request.query_params.get("Marker"), max_items
    )
    return _json(
        wire.ListFunctionEventInvokeConfigsResponse(
            function_event_invoke_configs=[_render(ctx, c) for c in page.configs],
            next_marker=page.next_marker,
        )
    )
