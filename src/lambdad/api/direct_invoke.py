"""The direct path for Invoke, ahead of Starlette's routing and middleware.

`POST /2015-03-31/functions/{FunctionName}/invocations` is most of a busy
server's requests, and Starlette's layers around it (the error middlewares,
matching the path against every route of the table, two request wrappers)
cost more CPU than the handler itself. `DirectInvoke` recognises exactly that
route (what Starlette's `[^/]+` path parameter matches, method POST) and runs
the same steps the route would:

- authorization: `check_operation` with the route's entry in `OPERATIONS`;
- the handler: `invoke.invoke`, unchanged (its body limits, headers, result);
- errors: `LambdadError` as `handle_lambdad_error` renders it, anything else
  as `handle_unexpected` does, then raised on (as Starlette's
  ServerErrorMiddleware does: the server logs it).

It sits inside the middlewares every request passes (`RequestLog`,
`RequestGuard`, `Authentication`, `BodyGuard`), so the request line, request id,
signature checks and body limits are the same ones. Every other request, and
anything this one does not match exactly, goes on to Starlette.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lambdad.api import invoke
from lambdad.api.authorization import OPERATIONS, check_operation
from lambdad.api.errors import handle_unexpected, lambdad_error_response
from lambdad.errors import LambdadError

PREFIX = "/2015-03-31/functions/"
SUFFIX = "/invocations"

Endpoint = Callable[[Request], Awaitable[Response]]


def invoked_function(scope: Scope) -> str | None:
    """The FunctionName of an Invoke request, or None for any other request."""
    path: str = scope["path"]
    if (
        scope["method"] != "POST"
        or not path.startswith(PREFIX)
        or not path.endswith(SUFFIX)
        or scope.get("root_path")
    ):
        return None
    name = path[len(PREFIX) : -len(SUFFIX)]
    if not name or "/" in name:
        return None
    return name


class DirectInvoke:
    """ASGI middleware: Invoke served directly, everything else by `app` (Starlette)."""

    def __init__(self, app: ASGIApp, endpoint: Endpoint = invoke.invoke) -> None:
        self.app = app
        self.endpoint = endpoint
        self.name = endpoint.__name__
        self.operation = OPERATIONS.get(endpoint)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = invoked_function(scope) if scope["type"] == "http" else None
        if name is None:
            await self.app(scope, receive, send)
            return
        # What Starlette's app and route would have put on the scope.
        scope["app"] = self.app
        scope["path_params"] = {"FunctionName": name}
        scope["endpoint"] = self.endpoint
        request = Request(scope, receive)
        started = False

        async def sender(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await check_operation(request, self.operation, self.name)
            response = await self.endpoint(request)
            await response(scope, receive, sender)
        except LambdadError as exc:
            if started:
                raise RuntimeError("LambdadError after the response started") from exc
            await lambdad_error_response(exc)(scope, receive, sender)
        except Exception as exc:
            if not started:
                await (await handle_unexpected(request, exc))(scope, receive, sender)
            raise
