"""Request bodies: every request has a size limit, enforced while it is read.

AWS's limits: a synchronous Invoke payload 6 MB (6,291,456 bytes), an
asynchronous one 256 KB, a CreateFunction/UpdateFunctionCode request 70,167,211
bytes (a 50 MB zip, base64, inside JSON); configuration calls are small JSON
documents (environment variables alone are at most 4 KB), so every other route
gets `CONFIGURATION_LIMIT`. Past a limit AWS answers 413
`RequestEntityTooLargeException` "Request must be smaller than N bytes for the
X operation".

`BodyLimit` wraps each request's `receive`, so the limit holds for every route,
including ones that read with `request.body()`: a declared Content-Length over
the limit is refused before anything is read, and bytes are counted as they
arrive (chunked bodies too), so no more than the limit is ever buffered. A
refused request's connection is closed, so the rest of the body is never read.
A handler that accepts more declares it with `read_body` before reading.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lambdad.errors import RequestTooLarge

CODE_UPLOAD_LIMIT = 70_167_211
CONFIGURATION_LIMIT = 256 * 1024
_SCOPE_KEY = "lambdad.body_limit"


def too_large(limit: int, operation: str) -> RequestTooLarge:
    return RequestTooLarge(
        f"Request must be smaller than {limit} bytes for the {operation} operation"
    )


async def read_body(request: Request, limit: int, operation: str) -> bytes:
    """The whole body, up to `limit` bytes (instead of the default) for `operation`."""
    request.scope[_SCOPE_KEY] = (limit, operation)
    return await request.body()


def _operation_of(scope: Scope) -> str:
    """AWS's operation name from the handler's (update_function_code: UpdateFunctionCode)."""
    endpoint: Any = scope.get("endpoint")
    name = getattr(endpoint, "__name__", "") or "unknown"
    return re.sub(r"(?:^|_)([a-z])", lambda m: m.group(1).upper(), name)


class BodyLimit:
    """ASGI middleware: no request body is read past its limit (see the module doc)."""

    def __init__(self, app: ASGIApp, default_limit: int = CONFIGURATION_LIMIT) -> None:
        self.app = app
        self.default_limit = default_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received = 0
        refused = False

        def refuse() -> RequestTooLarge:
            nonlocal refused
            refused = True
            limit, operation = self._limit(scope)
            return too_large(limit, operation)

        async def limited_receive() -> Message:
            nonlocal received
            limit, _ = self._limit(scope)
            if received == 0 and _declared_length(scope) > limit:
                raise refuse()
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise refuse()
            return message

        async def send_closing(message: Message) -> None:
            if refused and message["type"] == "http.response.start":
                # Whatever of the body is still coming is not read: end the connection.
                headers = [*message.get("headers", []), (b"connection", b"close")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, limited_receive, send_closing)

    def _limit(self, scope: Scope) -> tuple[int, str]:
        declared: tuple[int, str] | None = scope.get(_SCOPE_KEY)
        return declared or (self.default_limit, _operation_of(scope))


def _declared_length(scope: Scope) -> int:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            return int(value) if value.isdigit() else 0
    return 0
