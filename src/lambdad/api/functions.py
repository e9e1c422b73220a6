"""Handlers for the function operations: parse, call the catalog, render."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from lambdad.api import convert, shapes
from lambdad.api.access import authorize, principal_of
from lambdad.api.bodies import CODE_UPLOAD_LIMIT, read_body
from lambdad.api.code_sources import package_bytes
from lambdad.api.context import ApiContext
from lambdad.api.params import int_in_range, required_list
from lambdad.catalog import Version
from lambdad.errors import InvalidParameterValue, LambdadError

JSON = "application/json"
MAX_ITEMS = 10_000  # botocore's MaxListItems


def _json(value: object, status: int = 200) -> Response:
    return Response(shapes.encode(value), status_code=status, media_type=JSON)


async def _body(request: Request, operation: str) -> bytes:
    return await read_body(request, CODE_UPLOAD_LIMIT, operation)


def _function_arn(ctx: ApiContext, function_name: str) -> str:
    """The ARN CreateFunction would create (the catalog refuses a bad name later)."""
    try:
        name = ctx.account.parse_function_name(function_name).name
    except LambdadError:
        name = function_name
    return ctx.account.function_arn(name)


async def _authorize_role_and_layers(
    request: Request, role: str | None, layers: list[str] | None
) -> None:
    """What a configuration uses needs permissions of its own, as in AWS: giving a
    function a role is passing it (iam:PassRole), a layer is read (lambda:GetLayerVersion)."""
    if role:
        await authorize(request, "iam:PassRole", [role])
    if layers:
        await authorize(request, "lambda:GetLayerVersion", layers)


async def create_function(request: Request) -> Response:
    ctx = ApiContext.of(request)
    body = shapes.decode_body(await _body(request, "CreateFunction"), shapes.CreateFunctionRequest)
    if not ctx.authorizer.exempts(principal_of(request)):
        arn = _function_arn(ctx, body.function_name)
        await authorize(request, "lambda:CreateFunction", [arn])
    await _authorize_role_and_layers(request, body.role, body.layers)
    code = body.code or shapes.functions.FunctionCode()
    version = await ctx.catalog.create_function(
        body.function_name,
        convert.config_from_create(body),
        await package_bytes(ctx, code, "code."),
        body.tags or {},
        publish=body.publish,
        image_uri=code.image_uri,
    )
    # Even with Publish (Version "1"), AWS answers CreateFunction with the unqualified ARN.
    configuration = convert.function_configuration(version, ctx.region, version.function_arn)
    return _json(configuration, status=201)


async def get_function(request: Request) -> Response:
    ctx = ApiContext.of(request)
    target = await ctx.catalog.resolve(ctx.resolve(request))
    version = target.version
    function = await ctx.catalog.get_function(version.function_name)
    concurrency = function.reserved_concurrency
    return _json(
        shapes.GetFunctionResponse(
            configuration=convert.function_configuration(version, ctx.region, target.arn),
            code=_code_location(ctx, request, version),
            tags=dict(function.tags) or None,
            concurrency=None
            if concurrency is None
            else shapes.functions.Concurrency(reserved_concurrent_executions=concurrency),
        )
    )


def _code_location(
    ctx: ApiContext, request: Request, version: Version
) -> shapes.FunctionCodeLocation:
    """Where the code is: a download link for a zip, the image (as named, and pinned)
    for a container image function."""
    if version.image_digest is not None:
        return shapes.FunctionCodeLocation(
            repository_type="ECR",
            image_uri=version.config.image_uri,
            resolved_image_uri=version.config.resolved_image_uri,
        )
    return shapes.FunctionCodeLocation(
        repository_type="S3",
        location=ctx.code_links.url(str(request.base_url), version.code_key),
    )


async def get_function_configuration(request: Request) -> Response:
    ctx = ApiContext.of(request)
    target = await ctx.catalog.resolve(ctx.resolve(request))
    return _json(convert.function_configuration(target.version, ctx.region, target.arn))


async def list_functions(request: Request) -> Response:
    ctx = ApiContext.of(request)
    params = request.query_params
    function_version = params.get("FunctionVersion")
    if function_version not in (None, "ALL"):
        raise InvalidParameterValue(f"Invalid FunctionVersion: {function_version}. Valid: ALL")
    max_items = int_in_range(params, "MaxItems", 50, 1, MAX_ITEMS, "maxItems")
    page = await ctx.catalog.list_functions(
        params.get("Marker"), max_items, all_versions=function_version == "ALL"
    )
    return _json(
        shapes.ListFunctionsResponse(
            functions=[
                convert.list_entry(convert.function_configuration(v, ctx.region))
                for v in page.versions
            ],
            next_marker=page.next_marker,
        )
    )


async def update_function_code(request: Request) -> Response:
    ctx = ApiContext.of(request)
    body = shapes.decode_body(
        await _body(request, "UpdateFunctionCode"), shapes.UpdateFunctionCodeRequest
    )
    version = await ctx.catalog.update_code(
        request.path_params["FunctionName"],
        await package_bytes(ctx, body, ""),
        publish=body.publish,
        dry_run=body.dry_run,
        revision_id=body.revision_id,
        architectures=tuple(body.architectures) if body.architectures else None,
        image_uri=body.image_uri,
    )
    return _json(convert.function_configuration(version, ctx.region))


async def update_function_configuration(request: Request) -> Response:
    ctx = ApiContext.of(request)
    name = request.path_params["FunctionName"]
    body = shapes.decode_body(await request.body(), shapes.UpdateFunctionConfigurationRequest)
    await _authorize_role_and_layers(request, body.role, body.layers)
    changes = convert.config_changes(body, name)
    version = await ctx.catalog.update_configuration(name, changes, body.revision_id)
    return _json(convert.function_configuration(version, ctx.region))


async def publish_version(request: Request) -> Response:
    ctx = ApiContext.of(request)
    body = shapes.decode_body(await request.body(), shapes.PublishVersionRequest)
    version = await ctx.catalog.publish_version(
        request.path_params["FunctionName"],
        code_sha256=body.code_sha256,
        description=body.description,
        revision_id=body.revision_id,
    )
    return _json(convert.function_configuration(version, ctx.region), status=201)


async def list_versions_by_function(request: Request) -> Response:
    ctx = ApiContext.of(request)
    params = request.query_params
    versions = await ctx.catalog.list_versions(request.path_params["FunctionName"])
    start = _version_marker(params.get("Marker"), len(versions))
    max_items = int_in_range(params, "MaxItems", 50, 1, MAX_ITEMS, "maxItems")
    page = versions[start : start + max_items]
    more = start + max_items < len(versions)
    return _json(
        shapes.ListVersionsByFunctionResponse(
            # AWS lists $LATEST with its qualified ARN here, unlike anywhere else.
            versions=[
                convert.list_entry(convert.function_configuration(v, ctx.region, v.qualified_arn))
                for v in page
            ],
            next_marker=str(start + max_items) if more else None,
        )
    )


async def delete_function(request: Request) -> Response:
    ctx = ApiContext.of(request)
    await ctx.catalog.delete_function(
        request.path_params["FunctionName"], request.query_params.get("Qualifier")
    )
    return Response(status_code=204)


async def tag_resource(request: Request) -> Response:
    ctx = ApiContext.of(request)
    body = shapes.decode_body(await request.body(), shapes.TagResourceRequest)
    await ctx.catalog.tag(request.path_params["Resource"], body.tags)
    return Response(status_code=204)


async def untag_resource(request: Request) -> Response:
    ctx = ApiContext.of(request)
    keys = required_list(request.query_params.getlist("tagKeys"), "tagKeys")
    await ctx.catalog.untag(request.path_params["Resource"], keys)
    return Response(status_code=204)


async def list_tags(request: Request) -> Response:
    ctx = ApiContext.of(request)
    tags = await ctx.catalog.tags(request.path_params["Resource"])
    return _json({"Tags": dict(tags)})


async def get_account_settings(request: Request) -> Response:
    ctx = ApiContext.of(request)
    count, code_size = await ctx.catalog.account_usage()
    account = await ctx.concurrency.account_concurrency()
    return _json(
        shapes.AccountSettings(
            account_limit=shapes.AccountLimit(
                total_code_size=80_530_636_800,
                code_size_unzipped=262_144_000,
                code_size_zipped=52_428_800,
                concurrent_executions=account.limit,
                unreserved_concurrent_executions=account.unreserved,
            ),
            account_usage=shapes.AccountUsage(total_code_size=code_size, function_count=count),
        )
    )


def _version_marker(raw: str | None, count: int) -> int:
    """ListVersionsByFunction's marker: the index of the next version, as we sent it."""
    if raw is None:
        return 0
    if not raw.isdigit() or int(raw) > count:
        raise InvalidParameterValue(f"Invalid Marker: {raw}")
    return int(raw)
