"""AWS's JSON protocol: `POST /` with `X-Amz-Target: <prefix>.<Operation>`.

EventBridge (`AWSEvents`) speaks it, and so do CloudWatch Logs (`Logs_20140328`)
and others: a service plugs in by adding its target prefix and operation table
to `SERVICES`. Each operation takes the request's region-bound `ApiContext`
and its body, and returns a wire shape (or None for an empty answer `{}`).
Errors go out as this protocol's: status 400 (500 for the server's own
failures) and a body `{"__type": "<Code>", "message": "..."}`, which is what
botocore reads for these services.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from lambdad.api import cloudwatch, cost_explorer, events, logs_live_tail
from lambdad.api.access import authorize, principal_of
from lambdad.api.bodies import read_body
from lambdad.api.context import ApiContext
from lambdad.api.events_access import events_checks
from lambdad.api.shapes import encode
from lambdad.errors import LambdadError

log = logging.getLogger(__name__)

Operation = Callable[[ApiContext, bytes], Awaitable[object | None]]
Resources = Callable[[ApiContext, str, bytes], Sequence[str]]
"""The ARNs an operation (by name) acts on, from its body."""
Checks = Callable[[ApiContext, str, bytes], Sequence[tuple[str, Sequence[str], dict[str, str]]]]
"""(context, operation, body) -> the (action, ARNs, condition keys) the caller needs."""


def _everything(_ctx: ApiContext, _operation: str, _body: bytes) -> Sequence[str]:
    return ["*"]


@dataclass(frozen=True)
class JsonService:
    operations: Mapping[str, Operation]
    internal_error: str
    """The service's name for a failure of its own (a 500)."""
    iam_service: str = "events"
    """The prefix of its IAM actions (`events:PutRule`), which callers need."""
    resources: Resources = _everything
    """Until a service works out its ARNs, a caller needs the action on every resource."""
    checks: Checks | None = None
    """When an operation needs more than its own action on `resources` (iam:PassRole),
    or other actions: every (action, ARNs, condition keys) it needs, from its body."""


SERVICES: Mapping[str, JsonService] = {
    "AWSEvents": JsonService(events.OPERATIONS, "InternalException", checks=events_checks),
    "Logs_20140328": JsonService(
        logs_live_tail.OPERATIONS,
        "ServiceUnavailableException",
        "logs",
        logs_live_tail.resources,
    ),
    # CloudWatch (JSON 1.0; awsQueryCompatible: the SDKs read the query code's header)
    "GraniteServiceVersion20100801": JsonService(
        cloudwatch.JSON_OPERATIONS, "InternalServiceFault", iam_service="cloudwatch"
    ),
    "AWSInsightsIndexService": JsonService(cost_explorer.OPERATIONS, "InternalFailure", "ce"),
}
MEDIA_TYPE = "application/x-amz-json-1.1"
MAX_BODY = 1024 * 1024
"""Room for PutEvents' 256 KB of entries however their JSON is escaped; each
service checks its own limits on what it decoded."""


async def dispatch(request: Request) -> Response:
    target = request.headers.get("x-amz-target", "")
    prefix, _, name = target.rpartition(".")
    service = SERVICES.get(prefix)
    operation = None if service is None else service.operations.get(name)
    if service is None or operation is None:
        return error("UnknownOperationException", 400, f"Unknown operation {target or '(none)'}")
    try:
        # The ARNs an operation touches are in its body.
        ctx = ApiContext.of(request)
        body = await read_body(request, MAX_BODY, name)
        if not ctx.authorizer.exempts(principal_of(request)):
            action = f"{service.iam_service}:{name}"
            found = (
                service.checks(ctx, name, body)
                if service.checks
                else [(action, service.resources(ctx, name, body), {})]
            )
            for action, arns, keys in found:
                await authorize(request, action, arns, keys)
        result = await operation(ctx, body)
    except LambdadError as exc:
        if exc.status >= 500:
            return error(service.internal_error, 500, exc.message)
        # Client errors are 400 in this protocol, whatever the Lambda API's status;
        # a refused body keeps its own (413, 415).
        status = exc.status if exc.status in (413, 415) else 400
        return error(exc.code, status, exc.message, getattr(exc, "query_code", None))
    except Exception:
        log.exception("%s: unexpected error", target)
        return error(service.internal_error, 500, "An internal error occurred.")
    if isinstance(result, Response):  # a streamed answer (StartLiveTail's)
        return result
    return Response(b"{}" if result is None else encode(result), media_type=MEDIA_TYPE)


def error(code: str, status: int, message: str, query_code: str | None = None) -> Response:
    body = {"__type": code, "message": message}
    headers = {"x-amzn-ErrorType": code}
    if query_code is not None:  # an awsQueryCompatible service's (CloudWatch) code
        headers["x-amzn-query-error"] = f"{query_code};Sender"
    return Response(encode(body), status_code=status, media_type=MEDIA_TYPE, headers=headers)
