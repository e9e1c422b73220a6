"""Handlers for the layer operations: parse, call the layer catalog, render."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from lambdad.api import convert
from lambdad.api.bodies import read_body
from lambdad.api.code_sources import package_bytes
from lambdad.api.context import ApiContext
from lambdad.api.params import int_param, optional_int_param
from lambdad.api.shapes import encode
from lambdad.api.shapes import layers as shapes
from lambdad.api.shapes.functions import decode_body
from lambdad.catalog.layer_policies import LayerPermission
from lambdad.catalog.layers import LayerCatalog, LayerQuery, LayerVersion
from lambdad.errors import ServiceError

JSON = "application/json"
# As for CreateFunction: a 50 MB zip, base64 inside JSON.
MAX_PUBLISH_REQUEST_BYTES = 70_167_211
MAX_POLICY_REQUEST_BYTES = 64 * 1024


def _json(value: object, status: int = 200) -> Response:
    return Response(encode(value), status_code=status, media_type=JSON)


def _catalog(request: Request) -> tuple[ApiContext, LayerCatalog]:
    ctx = ApiContext.of(request)
    if ctx.catalog.layers is None:
        raise ServiceError("Layers are not configured on this server.")
    return ctx, ctx.catalog.layers


def _version_number(request: Request) -> int:
    return int_param(request.path_params["VersionNumber"], "VersionNumber", default=0)


def _query(request: Request) -> LayerQuery:
    params = request.query_params
    return LayerQuery(
        runtime=params.get("CompatibleRuntime"),
        architecture=params.get("CompatibleArchitecture"),
        marker=params.get("Marker"),
        max_items=optional_int_param(params, "MaxItems"),
    )


def _list_item(version: LayerVersion) -> shapes.LayerVersionsListItem:
    return shapes.LayerVersionsListItem(
        layer_version_arn=version.version_arn,
        version=version.version,
        description=version.description,
        created_date=convert.format_timestamp(version.created_at),
        compatible_runtimes=list(version.compatible_runtimes) or None,
        compatible_architectures=list(version.compatible_architectures) or None,
        license_info=version.license_info,
    )


def _layer_version(
    request: Request, ctx: ApiContext, version: LayerVersion
) -> shapes.LayerVersionResponse:
    return shapes.LayerVersionResponse(
        content=shapes.LayerVersionContentOutput(
            location=ctx.code_links.url(str(request.base_url), version.code_key),
            code_sha256=version.code_sha256,
            code_size=version.code_size,
        ),
        layer_arn=version.layer_arn,
        layer_version_arn=version.version_arn,
        description=version.description,
        created_date=convert.format_timestamp(version.created_at),
        version=version.version,
        compatible_runtimes=list(version.compatible_runtimes) or None,
        compatible_architectures=list(version.compatible_architectures) or None,
        license_info=version.license_info,
    )


async def publish_layer_version(request: Request) -> Response:
    ctx, layers = _catalog(request)
    raw = await read_body(request, MAX_PUBLISH_REQUEST_BYTES, "PublishLayerVersion")
    body = decode_body(raw, shapes.PublishLayerVersionRequest)
    content = body.content or shapes.LayerVersionContentInput()
    version = await layers.publish(
        request.path_params["LayerName"],
        await package_bytes(ctx, content, "content."),
        description=body.description,
        compatible_runtimes=body.compatible_runtimes or (),
        compatible_architectures=body.compatible_architectures or (),
        license_info=body.license_info,
    )
    return _json(_layer_version(request, ctx, version), status=201)


async def get_layer_version(request: Request) -> Response:
    ctx, layers = _catalog(request)
    version = await layers.get(request.path_params["LayerName"], _version_number(request))
    return _json(_layer_version(request, ctx, version))


async def list_layers(request: Request) -> Response:
    """GET /2018-10-31/layers: ListLayers, or GetLayerVersionByArn with ?find=LayerVersion."""
    ctx, layers = _catalog(request)
    params = request.query_params
    if params.get("find") == "LayerVersion":
        version = await layers.get_by_arn(params.get("Arn", ""))
        return _json(_layer_version(request, ctx, version))
    page = await layers.list_layers(_query(request))
    return _json(
        shapes.ListLayersResponse(
            layers=[
                shapes.LayersListItem(
                    layer_name=v.layer_name,
                    layer_arn=v.layer_arn,
                    latest_matching_version=_list_item(v),
                )
                for v in page.versions
            ],
            next_marker=page.next_marker,
        )
    )


async def list_layer_versions(request: Request) -> Response:
    _ctx, layers = _catalog(request)
    page = await layers.list_versions(request.path_params["LayerName"], _query(request))
    return _json(
        shapes.ListLayerVersionsResponse(
            layer_versions=[_list_item(v) for v in page.versions], next_marker=page.next_marker
        )
    )


async def delete_layer_version(request: Request) -> Response:
    _ctx, layers = _catalog(request)
    await layers.delete(request.path_params["LayerName"], _version_number(request))
    return Response(status_code=204)


async def add_layer_version_permission(request: Request) -> Response:
    _ctx, layers = _catalog(request)
    raw = await read_body(request, MAX_POLICY_REQUEST_BYTES, "AddLayerVersionPermission")
    body = decode_body(raw, shapes.AddLayerVersionPermissionRequest)
    permission = LayerPermission(
        body.statement_id, body.action, body.principal, body.organization_id
    )
    statement, revision_id = await layers.add_permission(
        request.path_params["LayerName"],
        _version_number(request),
        permission,
        request.query_params.get("RevisionId"),
    )
    return _json(
        shapes.AddLayerVersionPermissionResponse(
            statement=json.dumps(statement, separators=(",", ":")), revision_id=revision_id
        ),
        status=201,
    )


async def remove_layer_version_permission(request: Request) -> Response:
    _ctx, layers = _catalog(request)
    await layers.remove_permission(
        request.path_params["LayerName"],
        _version_number(request),
        request.path_params["StatementId"],
        request.query_params.get("RevisionId"),
    )
    return Response(status_code=204)


async def get_layer_version_policy(request: Request) -> Response:
    _ctx, layers = _catalog(request)
    policy = await layers.policy(request.path_params["LayerName"], _version_number(request))
    return _json(
        shapes.GetLayerVersionPolicyResponse(
            policy=policy.document(), revision_id=policy.revision_id
        )
    )
