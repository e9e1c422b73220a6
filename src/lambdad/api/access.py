"""The authorization hook handlers call: `await authorize(request, action, arns)`.

Routes in `api/authorization.py`'s table are checked before their handler
runs; a handler that only knows its ARNs once it has read its body
(CreateFunction, UpdateFunctionConfiguration's iam:PassRole) calls this
itself, and so can any other API's handler.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from starlette.requests import Request

from lambdad.api.context import ApiContext
from lambdad.iam.principal import Principal


def principal_of(request: Request) -> Principal | None:
    """The authenticated caller (authentication puts it on the request's state)."""
    # `request.state` reads and writes this dict (read directly: no State object).
    principal: Principal | None = request.scope.get("state", {}).get("principal")
    return principal


def request_keys(request: Request, ctx: ApiContext) -> dict[str, str]:
    """The global condition keys a request carries (beyond the principal's)."""
    client = request.client
    # The scheme as `request.url` has it, without building the whole URL.
    secure = request.scope.get("scheme", "http") == "https"
    keys = {
        "aws:SecureTransport": "true" if secure else "false",
        "aws:RequestedRegion": ctx.region,
    }
    if client is not None:
        keys["aws:SourceIp"] = client.host
    return keys


async def authorize(
    request: Request,
    action: str,
    resources: Sequence[str],
    context: Mapping[str, str] | None = None,
) -> None:
    """Raise AccessDenied unless the request's caller may perform `action` on `resources`."""
    ctx = ApiContext.of(request)
    keys = {**request_keys(request, ctx), **(context or {})}
    await ctx.authorizer.authorize(principal_of(request), action, resources, keys)
