"""Request bodies: a size limit and a content type, enforced while the body is read.

AWS's limits: a synchronous Invoke payload 6 MB (6,291,456 bytes), an
asynchronous one 256 KB, a CreateFunction/UpdateFunctionCode request 70,167,211
bytes (a 50 MB zip, base64, inside JSON); configuration calls are small JSON
documents (environment variables alone are at most 4 KB), so every other route
gets `CONFIGURATION_LIMIT`. Past a limit AWS answers 413
`RequestEntityTooLargeException` "Request must be smaller than N bytes for the
X operation".

`BodyGuard` wraps each request's `receive`, so the limit holds for every route,
including ones that read with `request.body()`: a declared Content-Length over
the limit is refused before anything is read, and bytes are counted as they
arrive (chunked bodies too), so no more than the limit is ever buffered. A
refused request's connection is closed, so the rest of the body is never read.
A handler that accepts more declares it with `read_body` before reading.
Code uploads (tens of MB each, then their decoded zip) are read at most
`MAX_CONCURRENT_UPLOADS` at a time: the others wait their turn with their bodies
still unread, so the server's memory stays bounded however many arrive at once.

The content type: a web page can make the operator's browser send a
cross-site request without asking the server first (no CORS preflight) only
with `text/plain`, `application/x-www-form-urlencoded` or `multipart/form-data`
(or no type at all). AWS's SDKs send `application/json` with every JSON body
(boto3 and the AWS CLI do, even for `{}`), so a JSON body must say so; the raw
payload of Invoke (sent by boto3 with no type) may have any type but those
three. Either way a refused type is `UnsupportedMediaTypeException` 415.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import anyio
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lambdad.api.asgi_headers import declared_length, header
from lambdad.errors import RequestTooLarge, UnsupportedMediaType

CODE_UPLOAD_LIMIT = 70_167_211
CONFIGURATION_LIMIT = 256 * 1024
MAX_CONCURRENT_UPLOADS = 4
JSON_TYPES = frozenset(
    {"application/json", "application/x-amz-json-1.0", "application/x-amz-json-1.1"}
)
# What a browser sends cross-site without a preflight (the Fetch standard's CORS-safelisted types).
BROWSER_FORM_TYPES = frozenset(
    {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}
)
_SCOPE_KEY = "lambdad.body"


@dataclass(frozen=True)
class BodyRules:
    limit: int
    operation: str
    raw: bool = False
    """Any content type but a browser form's (Invoke's payload); else JSON only."""


@lru_cache(maxsize=64)  # each handler asks with the same few rules
def _rules(limit: int, operation: str, raw: bool) -> BodyRules:
    return BodyRules(limit, operation, raw)


def too_large(limit: int, operation: str) -> RequestTooLarge:
    return RequestTooLarge(
        f"Request must be smaller than {limit} bytes for the {operation} operation"
    )


async def read_body(request: Request, limit: int, operation: str, *, raw: bool = False) -> bytes:
    """The whole body, up to `limit` bytes (instead of the default) for `operation`;
    `raw`: the body is a payload of any type but a browser form's, not JSON."""
    request.scope[_SCOPE_KEY] = _rules(limit, operation, raw)
    return await request.body()


async def stream_body(request: Request, limit: int, operation: str) -> AsyncIterator[bytes]:
    """The body chunk by chunk as it arrives, up to `limit` bytes, for bodies too
    large to hold (an image archive); any type but a browser form's."""
    request.scope[_SCOPE_KEY] = BodyRules(limit, operation, raw=True)
    async for chunk in request.stream():
        yield chunk


def _type_error(scope: Scope, rules: BodyRules, body_started: bool) -> Exception | None:
    media_type = (header(scope, b"content-type") or "").split(";", 1)[0].strip().lower()
    if rules.raw:
        refused = media_type in BROWSER_FORM_TYPES
    else:
        # No type at all is fine for an empty body (curl -X POST), never for JSON.
        refused = media_type not in JSON_TYPES and (bool(media_type) or body_started)
    if not refused:
        return None
    expected = "not a browser form's" if rules.raw else "application/json"
    return UnsupportedMediaType(
        f"The content type of the {rules.operation} request body must be {expected}, "
        f"not {media_type or 'missing'}"
    )


def _operation_of(scope: Scope) -> str:
    """AWS's operation name from the handler's (update_function_code: UpdateFunctionCode)."""
    endpoint: Any = scope.get("endpoint")
    name = getattr(endpoint, "__name__", "") or "unknown"
    return re.sub(r"(?:^|_)([a-z])", lambda m: m.group(1).upper(), name)


class BodyGuard:
    """ASGI middleware: no body is read past its limit or with a refused type (see above)."""

    def __init__(
        self,
        app: ASGIApp,
        default_limit: int = CONFIGURATION_LIMIT,
        concurrent_uploads: int = MAX_CONCURRENT_UPLOADS,
    ) -> None:
        self.app = app
        self.default_limit = default_limit
        self.concurrent_uploads = concurrent_uploads
        self._uploads: anyio.Semaphore | None = None  # made on the event loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received = 0
        refused = False
        upload: anyio.Semaphore | None = None

        def refuse(error: Exception | None) -> None:
            nonlocal refused
            if error is not None:
                refused = True
                raise error

        async def limited_receive() -> Message:
            nonlocal received, upload
            rules = self._rules(scope)
            checked_as_started = False  # the type, as for a body under way (no need twice)
            if received == 0:
                declared = declared_length(scope)
                if declared > rules.limit:
                    refuse(too_large(rules.limit, rules.operation))
                checked_as_started = declared > 0
                refuse(_type_error(scope, rules, checked_as_started))
                if upload is None and rules.limit >= CODE_UPLOAD_LIMIT:
                    slots = self._upload_slots()
                    await slots.acquire()
                    upload = slots  # held until the request is answered
            message = await receive()
            if message["type"] == "http.request":
                chunk = len(message.get("body", b""))
                if received == 0 and chunk and not checked_as_started:
                    refuse(_type_error(scope, rules, body_started=True))
                received += chunk
                if received > rules.limit:
                    refuse(too_large(rules.limit, rules.operation))
            return message

        async def send_closing(message: Message) -> None:
            if refused and message["type"] == "http.response.start":
                # Whatever of the body is still coming is not read: end the connection.
                headers = [*message.get("headers", []), (b"connection", b"close")]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, limited_receive, send_closing)
        finally:
            if upload is not None:
                upload.release()

    def _upload_slots(self) -> anyio.Semaphore:
        if self._uploads is None:
            self._uploads = anyio.Semaphore(self.concurrent_uploads)
        return self._uploads

    def _rules(self, scope: Scope) -> BodyRules:
        declared: BodyRules | None = scope.get(_SCOPE_KEY)
        return declared or BodyRules(self.default_limit, _operation_of(scope))
