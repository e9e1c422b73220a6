"""Which IAM action each API operation is, on which ARNs, checked before its handler.

`OPERATIONS` is the table: a route's endpoint -> its `Operation` (the IAM
action and how to find the ARNs it touches from the request). `authorized`
wraps the routes so that every request is decided by `iam.Authorizer` before
its handler runs; a route missing from the table is refused to everyone but
the admin (fail closed), so a new route must say what it is.

Other APIs (the event bus, the scheduler) add their routes' operations with
`register(endpoint, Operation(...))`, or call `authorize(request, action,
arns)` from a handler that only knows its ARNs after reading the body (as
CreateFunction does).

ARNs, as Lambda's "Resources and conditions" reference has them: a function
operation acts on the ARN the request names (qualified when it names a version
or alias: `?Qualifier=` or a qualified FunctionName); aliases are managed on
their function's ARN; layer versions on `layer:NAME:VERSION`; list calls and
account settings on `*`. lambdad's log routes act on the function's log group
(`logs:` actions).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route, request_response
from starlette.types import Receive, Scope, Send

from lambdad.api import (
    aliases,
    code_links,
    concurrency,
    event_invoke,
    function_urls,
    functions,
    images,
    invoke,
    invoke_stream,
    json_protocol,
    layers,
    log_retention,
    policies,
    prometheus,
    rpc_cbor,
    scheduler,
    xray,
)
from lambdad.api.access import authorize, principal_of
from lambdad.api.context import ApiContext

Resources = Callable[[Request, ApiContext], Sequence[str]]


@dataclass(frozen=True)
class Operation:
    action: str
    """The IAM action, e.g. `lambda:InvokeFunction`; None-like "" for a public route."""
    resources: Resources | None
    """The ARNs it touches; None: the handler authorizes itself (it needs its body)."""


def _everything(_request: Request, _ctx: ApiContext) -> Sequence[str]:
    return ["*"]


def _function(request: Request, ctx: ApiContext) -> Sequence[str]:
    """The function (or version, or alias) the path and ?Qualifier= name."""
    ref = ctx.resolve(request)
    return [ctx.account.function_arn(ref.name, ref.qualifier)]


def _unqualified_function(request: Request, ctx: ApiContext) -> Sequence[str]:
    ref = ctx.account.resolve(request.path_params["FunctionName"])
    return [ctx.account.function_arn(ref.name)]


def _tagged(request: Request, _ctx: ApiContext) -> Sequence[str]:
    return [request.path_params["Resource"]]


def _layer(request: Request, ctx: ApiContext) -> Sequence[str]:
    name = request.path_params["LayerName"]
    if name.startswith("arn:"):
        return [":".join(name.split(":")[:7])]
    return [f"arn:aws:lambda:{ctx.region}:{ctx.account.account_id}:layer:{name}"]


def _layer_version(request: Request, ctx: ApiContext) -> Sequence[str]:
    return [f"{_layer(request, ctx)[0]}:{request.path_params['VersionNumber']}"]


def _log_group(request: Request, ctx: ApiContext) -> Sequence[str]:
    ref = ctx.account.resolve(request.path_params["FunctionName"])
    group = f"/aws/lambda/{ref.name}"
    return [f"arn:aws:logs:{ctx.region}:{ctx.account.account_id}:log-group:{group}:*"]


def _schedule(request: Request, ctx: ApiContext) -> Sequence[str]:
    group = request.query_params.get("groupName")
    return [ctx.scheduler.schedule_arn(group, request.path_params["Name"])]


def _schedule_group(request: Request, ctx: ApiContext) -> Sequence[str]:
    name = request.path_params["Name"]
    return [f"arn:aws:scheduler:{ctx.region}:{ctx.account.account_id}:schedule-group/{name}"]


def _scheduler_tagged(request: Request, _ctx: ApiContext) -> Sequence[str]:
    return [request.path_params["ResourceArn"]]


PUBLIC = Operation("", _everything)
"""A route that needs no permission: a code download link carries its own signature."""

_LAMBDA: list[tuple[Callable[..., Awaitable[Any]], str, Resources | None]] = [
    (functions.create_function, "CreateFunction", None),
    (functions.list_functions, "ListFunctions", _everything),
    (functions.get_function, "GetFunction", _function),
    (functions.delete_function, "DeleteFunction", _function),
    (functions.get_function_configuration, "GetFunctionConfiguration", _function),
    (functions.update_function_configuration, "UpdateFunctionConfiguration", _function),
    (functions.update_function_code, "UpdateFunctionCode", _function),
    (functions.publish_version, "PublishVersion", _function),
    (functions.list_versions_by_function, "ListVersionsByFunction", _function),
    (functions.tag_resource, "TagResource", _tagged),
    (functions.untag_resource, "UntagResource", _tagged),
    (functions.list_tags, "ListTags", _tagged),
    (functions.get_account_settings, "GetAccountSettings", _everything),
    (aliases.create_alias, "CreateAlias", _unqualified_function),
    (aliases.list_aliases, "ListAliases", _unqualified_function),
    (aliases.get_alias, "GetAlias", _unqualified_function),
    (aliases.update_alias, "UpdateAlias", _unqualified_function),
    (aliases.delete_alias, "DeleteAlias", _unqualified_function),
    (concurrency.put_function_concurrency, "PutFunctionConcurrency", _function),
    (concurrency.delete_function_concurrency, "DeleteFunctionConcurrency", _function),
    (concurrency.get_function_concurrency, "GetFunctionConcurrency", _function),
    (
        concurrency.put_provisioned_concurrency_config,
        "PutProvisionedConcurrencyConfig",
        _function,
    ),
    (
        concurrency.get_provisioned_concurrency_config,
        "GetProvisionedConcurrencyConfig",
        _function,
    ),
    (
        concurrency.delete_provisioned_concurrency_config,
        "DeleteProvisionedConcurrencyConfig",
        _function,
    ),
    (concurrency.put_function_recursion_config, "PutFunctionRecursionConfig", _function),
    (concurrency.get_function_recursion_config, "GetFunctionRecursionConfig", _function),
    (invoke.invoke, "InvokeFunction", _function),
    (invoke.invoke_async, "InvokeAsync", _function),
    (layers.list_layers, "ListLayers", _everything),
    (layers.publish_layer_version, "PublishLayerVersion", _layer),
    (layers.list_layer_versions, "ListLayerVersions", _everything),
    (layers.get_layer_version, "GetLayerVersion", _layer_version),
    (layers.delete_layer_version, "DeleteLayerVersion", _layer_version),
    (layers.add_layer_version_permission, "AddLayerVersionPermission", _layer_version),
    (layers.get_layer_version_policy, "GetLayerVersionPolicy", _layer_version),
    (layers.remove_layer_version_permission, "RemoveLayerVersionPermission", _layer_version),
    (policies.add_permission, "AddPermission", _function),
    (policies.get_policy, "GetPolicy", _function),
    (policies.remove_permission, "RemovePermission", _function),
    (
        event_invoke.put_function_event_invoke_config,
        "PutFunctionEventInvokeConfig",
        _function,
    ),
    (
        event_invoke.update_function_event_invoke_config,
        "UpdateFunctionEventInvokeConfig",
        _function,
    ),
    (
        event_invoke.get_function_event_invoke_config,
        "GetFunctionEventInvokeConfig",
        _function,
    ),
    (
        event_invoke.delete_function_event_invoke_config,
        "DeleteFunctionEventInvokeConfig",
        _function,
    ),
    (
        event_invoke.list_function_event_invoke_configs,
        "ListFunctionEventInvokeConfigs",
        _unqualified_function,
    ),
    (function_urls.create_function_url_config, "CreateFunctionUrlConfig", _function),
    (function_urls.get_function_url_config, "GetFunctionUrlConfig", _function),
    (function_urls.update_function_url_config, "UpdateFunctionUrlConfig", _function),
    (function_urls.delete_function_url_config, "DeleteFunctionUrlConfig", _function),
    (function_urls.list_function_url_configs, "ListFunctionUrlConfigs", _unqualified_function),
]

OPERATIONS: dict[Callable[..., Any], Operation] = {
    endpoint: Operation(f"lambda:{name}", resources) for endpoint, name, resources in _LAMBDA
}
OPERATIONS.update(
    {
        invoke.function_logs: Operation("logs:FilterLogEvents", _log_group),
        log_retention.get_retention: Operation("logs:DescribeLogGroups", _log_group),
        log_retention.put_retention: Operation("logs:PutRetentionPolicy", _log_group),
        log_retention.delete_retention: Operation("logs:DeleteRetentionPolicy", _log_group),
        code_links.download_code: PUBLIC,
        # Container images (lambdad's own actions: the admin, or a policy that allows them).
        images.import_image: Operation("lambdad:ImportImage", _everything),
        images.pull_image: Operation("lambdad:PullImage", _everything),
        images.list_images: Operation("lambdad:ListImages", _everything),
        images.delete_image: Operation("lambdad:DeleteImage", _everything),
        # AWS's JSON protocol (EventBridge, ...): the action is in X-Amz-Target, its
        # ARNs in the body: decided in `json_protocol.dispatch` (`api/events_access.py`).
        json_protocol.dispatch: Operation("events:*", None),
        # Smithy RPC v2 CBOR (CloudWatch): the action is in the path, decided in
        # `rpc_cbor.dispatch` (CloudWatch's metric actions act on "*").
        rpc_cbor.dispatch: Operation("cloudwatch:*", None),
        prometheus.metrics_text: Operation("cloudwatch:GetMetricData", _everything),
        xray.get_trace_summaries: Operation("xray:GetTraceSummaries", _everything),
        xray.batch_get_traces: Operation("xray:BatchGetTraces", _everything),
        # InvokeWithResponseStream is authorized as lambda:InvokeFunction, as on AWS.
        invoke_stream.invoke_with_response_stream: Operation("lambda:InvokeFunction", _function),
    }
)
# EventBridge Scheduler (scheduler:* actions, on schedule and group ARNs as IAM names them).
# CreateSchedule and UpdateSchedule name their group in the body: they authorize themselves.
_SCHEDULER: list[tuple[Callable[..., Awaitable[Any]], str, Resources | None]] = [
    (scheduler.create_schedule, "CreateSchedule", None),
    (scheduler.get_schedule, "GetSchedule", _schedule),
    (scheduler.update_schedule, "UpdateSchedule", None),
    (scheduler.delete_schedule, "DeleteSchedule", _schedule),
    (scheduler.list_schedules, "ListSchedules", _everything),
    (scheduler.create_schedule_group, "CreateScheduleGroup", _schedule_group),
    (scheduler.get_schedule_group, "GetScheduleGroup", _schedule_group),
    (scheduler.delete_schedule_group, "DeleteScheduleGroup", _schedule_group),
    (scheduler.list_schedule_groups, "ListScheduleGroups", _everything),
    (scheduler.tag_resource, "TagResource", _scheduler_tagged),
    (scheduler.untag_resource, "UntagResource", _scheduler_tagged),
    (scheduler.list_tags_for_resource, "ListTagsForResource", _scheduler_tagged),
]
OPERATIONS.update(
    {endpoint: Operation(f"scheduler:{name}", found) for endpoint, name, found in _SCHEDULER}
)


def register(endpoint: Callable[..., Any], operation: Operation) -> None:
    """Declare another API's route (the event bus, the scheduler) in the table; at
    import time, before `create_app` puts the routes behind their checks."""
    OPERATIONS[endpoint] = operation


class _Authorized:
    """A route's endpoint behind its `Operation`'s check (an ASGI app)."""

    def __init__(self, endpoint: Callable[..., Any], operation: Operation | None) -> None:
        self.app = request_response(endpoint)
        self.name = getattr(endpoint, "__name__", "endpoint")
        self.__name__ = self.name  # what BodyGuard names the operation by
        self.operation = operation

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await check_operation(Request(scope, receive), self.operation, self.name)
        await self.app(scope, receive, send)


async def check_operation(request: Request, operation: Operation | None, name: str) -> None:
    """Decide `request` as the route of endpoint `name`, whose table entry is `operation`."""
    ctx = ApiContext.of(request)
    if ctx.authorizer.exempts(principal_of(request)):
        return  # the ARNs are not even worked out: the handler validates the request
    if operation is None:
        # Not in the table: only the admin (or no authorization at all) gets through.
        await authorize(request, f"lambdad:{name}", ["*"])
    elif operation.resources is not None and operation.action:
        await authorize(request, operation.action, operation.resources(request, ctx))


def authorized(routes: Sequence[BaseRoute]) -> list[BaseRoute]:
    """`routes` with every endpoint behind its authorization check."""
    wrapped: list[BaseRoute] = []
    for route in routes:
        if isinstance(route, Route):
            wrapped.append(
                Route(
                    route.path,
                    _Authorized(route.endpoint, OPERATIONS.get(route.endpoint)),
                    methods=sorted(route.methods or ()),
                    name=route.name,
                )
            )
        else:
            wrapped.append(route)
    return wrapped
