"""The ASGI application: routes, the request log line, request ids, errors, and
the guards in front of the routes (which callers are served, request bodies)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lambdad.api.auth import Authentication, Authenticator
from lambdad.api.authorization import authorized
from lambdad.api.bodies import BodyGuard
from lambdad.api.context import ApiContext
from lambdad.api.direct_invoke import DirectInvoke
from lambdad.api.errors import error_response, handle_lambdad_error, handle_unexpected
from lambdad.api.guard import HostNames, RequestGuard, no_function_url
from lambdad.api.routes import routes as default_routes
from lambdad.errors import LambdadError

log = logging.getLogger("lambdad.api")


AUTH_OFF_MARK = " [auth off: unauthenticated]"


# The variant digit of an RFC 4122 UUID (10xx) from any hex digit's two low bits.
_VARIANT = {f"{d:x}": f"{8 | (d & 3):x}" for d in range(16)}


def new_request_id() -> str:
    """A random (version 4) UUID as text, as `str(uuid.uuid4())` makes it, at a
    third of its cost (one per request)."""
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


class RequestLog:
    """One readable line per request at info level, and AWS's request id header.
    With authentication off, every line says so (`warn_auth_off`)."""

    def __init__(self, app: ASGIApp, warn_auth_off: bool = False) -> None:
        self.app = app
        self.suffix = AUTH_OFF_MARK if warn_auth_off else ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                # A handler may name the request itself (an async invoke's event id).
                if not any(name.lower() == b"x-amzn-requestid" for name, _ in headers):
                    headers.append((b"x-amzn-requestid", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            state = scope["state"]
            # A secondary's forwarded request is the primary's to log (lambdad.workers).
            if not state.get("forwarded"):
                elapsed = (time.perf_counter() - started) * 1000
                query = scope.get("query_string", b"").decode()
                path = scope["path"] + (f"?{query}" if query else "")
                client = scope.get("client") or ("-", 0)
                via = f" via worker {state['via']}" if "via" in state else ""
                log.info(
                    "%s %s %s %d %.1fms%s%s",
                    client[0],
                    scope["method"],
                    path,
                    status,
                    elapsed,
                    via,
                    self.suffix,
                )


async def not_found(_request: Any, _exc: Exception) -> Any:
    return error_response("UnknownOperationException", 404, "Unknown operation")


async def method_not_allowed(_request: Any, _exc: Exception) -> Any:
    return error_response("UnknownOperationException", 405, "Method not allowed")


def create_app(
    context: ApiContext,
    lifespan: Callable[[Starlette], AbstractAsyncContextManager[None]] | None = None,
    extra_routes: Sequence[BaseRoute] = (),
    function_urls: ASGIApp = no_function_url,
    around_guard: Callable[[ASGIApp], ASGIApp] | None = None,
) -> ASGIApp:
    """The API; requests to function URL hosts go to `function_urls` instead.
    `around_guard` wraps what the request log line is written around (a secondary's
    forwarding, `lambdad.workers`)."""
    app = Starlette(
        routes=authorized([*default_routes, *extra_routes]),
        exception_handlers={
            LambdadError: handle_lambdad_error,
            404: not_found,
            405: method_not_allowed,
            Exception: handle_unexpected,
        },
        lifespan=lifespan,
    )
    app.state.lambdad = context
    settings = context.settings
    hosts = HostNames(settings.host, settings.public_host_names)
    authenticated = Authentication(
        BodyGuard(DirectInvoke(app)),
        Authenticator(context.credentials),
        enabled=settings.auth_enabled,
    )
    guarded: ASGIApp = RequestGuard(authenticated, hosts, function_urls)
    if around_guard is not None:
        guarded = around_guard(guarded)
    return RequestLog(guarded, warn_auth_off=not settings.auth_enabled)
