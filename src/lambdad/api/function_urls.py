"""Handlers for the function URL config operations: parse, call the catalog, render."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from lambdad.api import shapes
from lambdad.api.context import ApiContext
from lambdad.api.params import optional_int_param
from lambdad.api.shapes import function_urls as wire
from lambdad.catalog import Cors, FunctionUrlChanges, FunctionUrlConfig


def function_url(ctx: ApiContext, url_id: str) -> str:
    """The URL as a user pastes it into curl (the `<id>.lambda-url.*.localhost` host)."""
    return f"http://{url_id}.lambda-url.{ctx.region}.localhost:{ctx.settings.port}/"


def _json(value: object, status: int = 200) -> Response:
    return Response(shapes.encode(value), status_code=status, media_type="application/json")


def _timestamp(seconds: float) -> str:
    """ISO-8601 with microseconds, as AWS writes CreationTime / LastModifiedTime."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _changes(body: wire.FunctionUrlConfigRequest) -> FunctionUrlChanges:
    cors = None
    if body.cors is not None:
        # The same members on both sides; lists become tuples.
        cors = Cors(
            **{k: _converted(v, tuple) for k, v in msgspec.structs.asdict(body.cors).items()}
        )
    return FunctionUrlChanges(auth_type=body.auth_type, cors=cors, invoke_mode=body.invoke_mode)


def _converted(value: Any, sequence: Callable[[Any], Any]) -> Any:
    return sequence(value) if isinstance(value, (list, tuple)) else value


def _render(
    ctx: ApiContext, config: FunctionUrlConfig, modified: bool = True
) -> wire.FunctionUrlConfigShape:
    cors = None
    if config.cors is not None:
        cors = wire.CorsShape(**{k: _converted(v, list) for k, v in asdict(config.cors).items()})
    return wire.FunctionUrlConfigShape(
        function_url=function_url(ctx, config.url_id),
        function_arn=ctx.function_urls.function_arn(config),
        auth_type=config.auth_type,
        creation_time=_timestamp(config.creation_time),
        invoke_mode=config.invoke_mode,
        cors=cors,
        last_modified_time=_timestamp(config.last_modified) if modified else None,
    )


async def _body(request: Request) -> FunctionUrlChanges:
    raw = await request.body()
    body = shapes.decode_body(raw, wire.FunctionUrlConfigRequest) if raw.strip() else None
    return _changes(body or wire.FunctionUrlConfigRequest())


async def create_function_url_config(request: Request) -> Response:
    ctx = ApiContext.of(request)
    config = await ctx.function_urls.create(
        request.path_params["FunctionName"],
        request.query_params.get("Qualifier"),
        await _body(request),
    )
    return _json(_render(ctx, config, modified=False), status=201)


async def update_function_url_config(request: Request) -> Response:
    ctx = ApiContext.of(request)
    config = await ctx.function_urls.update(
        request.path_params["FunctionName"],
        request.query_params.get("Qualifier"),
        await _body(request),
    )
    return _json(_render(ctx, config))


async def get_function_url_config(request: Request) -> Response:
    ctx = ApiContext.of(request)
    config = await ctx.function_urls.get(
        request.path_params["FunctionName"], request.query_params.get("Qualifier")
    )
    return _json(_render(ctx, config))


async def delete_function_url_config(request: Request) -> Response:
    ctx = ApiContext.of(request)
    await ctx.function_urls.delete(
        request.path_params["FunctionName"], request.query_params.get("Qualifier")
    )
    return Response(status_code=204)


async def list_function_url_configs(request: Request) -> Response:
    ctx = ApiContext.of(request)
    max_items = optional_int_param(request.query_params, "MaxItems")
    page = await ctx.function_urls.list(
        request.path_params["FunctionName"], request.query_params.get("Marker"), max_items
    )
    return _json(
        wire.ListFunctionUrlConfigsResponse(
            function_url_configs=[_render(ctx, c) for c in page.configs],
            next_marker=page.next_marker,
        )
    )
