"""Handlers for AddPermission / RemovePermission / GetPolicy: parse, call, render."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from lambdad.api import shapes
from lambdad.api.context import ApiContext
from lambdad.api.shapes import policies as wire
from lambdad.catalog import Permission, render_statement


async def add_permission(request: Request) -> Response:
    ctx = ApiContext.of(request)
    body = shapes.decode_body(await request.body(), wire.AddPermissionRequest)
    statement = await ctx.policies.add(
        request.path_params["FunctionName"],
        request.query_params.get("Qualifier"),
        Permission(
            statement_id=body.statement_id,
            action=body.action,
            principal=body.principal,
            source_arn=body.source_arn,
            source_account=body.source_account,
            principal_org_id=body.principal_org_id,
            event_source_token=body.event_source_token,
            function_url_auth_type=body.function_url_auth_type,
            invoked_via_function_url=body.invoked_via_function_url,
        ),
        revision_id=body.revision_id,
    )
    return Response(
        shapes.encode(wire.AddPermissionResponse(statement=render_statement(statement))),
        status_code=201,
        media_type="application/json",
    )


async def remove_permission(request: Request) -> Response:
    ctx = ApiContext.of(request)
    await ctx.policies.remove(
        request.path_params["FunctionName"],
        request.query_params.get("Qualifier"),
        request.path_params["StatementId"],
        revision_id=request.query_params.get("RevisionId"),
    )
    return Response(status_code=204)


async def get_policy(request: Request) -> Response:
    ctx = ApiContext.of(request)
    policy = await ctx.policies.get(
        request.path_params["FunctionName"], request.query_params.get("Qualifier")
    )
    return Response(
        shapes.encode(
            wire.GetPolicyResponse(policy=policy.document, revision_id=policy.revision_id)
        ),
        media_type="application/json",
    )
