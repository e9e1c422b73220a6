"""Handlers for the alias operations: parse, call the catalog's aliases, render."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from lambdad.api import shapes
from lambdad.api.context import ApiContext
from lambdad.api.params import int_param
from lambdad.api.shapes.aliases import (
    AliasConfiguration,
    AliasRoutingConfiguration,
    CreateAliasRequest,
    ListAliasesResponse,
    UpdateAliasRequest,
)
from lambdad.catalog import Alias
from lambdad.catalog.validation import check_range


def _json(value: object, status: int = 200) -> Response:
    return Response(shapes.encode(value), status_code=status, media_type="application/json")


def alias_configuration(alias: Alias) -> AliasConfiguration:
    return AliasConfiguration(
        alias_arn=alias.arn,
        name=alias.name,
        function_version=alias.function_version,
        description=alias.description,
        revision_id=alias.revision_id,
        routing_config=AliasRoutingConfiguration(additional_version_weights=dict(alias.weights))
        if alias.weights
        else None,
    )


def _weights(routing: AliasRoutingConfiguration | None) -> dict[str, float] | None:
    """None keeps the routing (UpdateAlias without RoutingConfig); {} drops it."""
    if routing is None:
        return None
    return dict(routing.additional_version_weights or {})


async def create_alias(request: Request) -> Response:
    ctx = ApiContext.of(request)
    body = shapes.decode_body(await request.body(), CreateAliasRequest)
    alias = await ctx.catalog.aliases.create(
        request.path_params["FunctionName"],
        body.name,
        body.function_version,
        body.description,
        _weights(body.routing_config),
    )
    return _json(alias_configuration(alias), status=201)


async def get_alias(request: Request) -> Response:
    ctx = ApiContext.of(request)
    alias = await ctx.catalog.aliases.get_checked(
        request.path_params["FunctionName"], request.path_params["Name"]
    )
    return _json(alias_configuration(alias))


async def update_alias(request: Request) -> Response:
    ctx = ApiContext.of(request)
    body = shapes.decode_body(await request.body(), UpdateAliasRequest)
    alias = await ctx.catalog.aliases.update(
        request.path_params["FunctionName"],
        request.path_params["Name"],
        body.function_version,
        body.description,
        _weights(body.routing_config),
        body.revision_id,
    )
    return _json(alias_configuration(alias))


async def delete_alias(request: Request) -> Response:
    ctx = ApiContext.of(request)
    await ctx.catalog.aliases.delete(
        request.path_params["FunctionName"], request.path_params["Name"]
    )
    return Response(status_code=204)


async def list_aliases(request: Request) -> Response:
    ctx = ApiContext.of(request)
    params = request.query_params
    max_items = int_param(params.get("MaxItems"), "MaxItems", default=50)
    check_range(max_items, "maxItems", 1, 10000)
    page = await ctx.catalog.aliases.list(
        request.path_params["FunctionName"],
        params.get("FunctionVersion"),
        params.get("Marker"),
        max_items,
    )
    return _json(
        ListAliasesResponse(
            aliases=[alias_configuration(a) for a in page.aliases],
            next_marker=page.next_marker,
        )
    )
