"""The HTTP front of function URLs: one request in, one invocation, one response out.

Reached through `RequestGuard`, which sends it every request to a function URL
host (`<url-id>.lambda-url.<region>.localhost`) and every `/lambda-url/<url-id>/`
path on the server's own names. URLs are regional: the host names the region
of the function; a path-based URL is found in whichever region holds its id
(ids are unique on the server). A request is checked whole before anything
reaches a function: an unknown id is 404, a body over 6 MB is 413 (read no
further than that), and a CORS preflight is answered here. The invocation is
the Invoke path's (concurrency, logs, recursion apply); a throttle is 429, a
function error or an unusable result 502, as AWS answers them. A URL with
InvokeMode RESPONSE_STREAM answers as the function writes (`api/url_stream.py`).

A URL with AuthType AWS_IAM takes only requests signed with SigV4 for the
service `lambda`, as AWS's do (with authentication on): an unsigned one is 403
`{"Message": "Forbidden"}`, a bad signature AWS's SigV4 error. The caller's
`Principal` goes into the request's state like the API's; AuthType NONE
callers are anonymous.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from dataclasses import dataclass

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from lambdad.api.auth import Authenticator
from lambdad.api.context import ApiContext
from lambdad.api.errors import error_response
from lambdad.api.guard import _host_name, is_function_url_host
from lambdad.api.url_cors import is_preflight, preflight_headers, response_headers
from lambdad.api.url_payload import (
    BadFunctionResponse,
    UrlRequest,
    UrlResponse,
    url_event,
    url_response,
)
from lambdad.api.url_stream import StreamedUrlResponse
from lambdad.catalog import LATEST, FunctionUrlConfig
from lambdad.catalog.names import REGION_PATTERN
from lambdad.errors import AccessDenied, LambdadError, TooManyRequests
from lambdad.iam import Principal
from lambdad.iam.sigv4 import MissingAuthenticationToken
from lambdad.invoke import MAX_SYNC_PAYLOAD, InvokeResult, ResponseStream

log = logging.getLogger(__name__)

PATH_PREFIX = "/lambda-url/"
FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})


_REGION = re.compile(REGION_PATTERN)


@dataclass(frozen=True)
class UrlTarget:
    url_id: str
    path: str
    region: str | None = None
    """The region the host names; None for a path-based URL."""


def url_target(host: str, path: str) -> UrlTarget | None:
    """The URL id, the function's path and the region of a request: by host, else by
    path prefix."""
    if is_function_url_host(host):
        url_id, _, rest = host.partition(".")
        region = rest.removeprefix("lambda-url.").removesuffix(".localhost")
        if not _REGION.fullmatch(region):
            return None
        return UrlTarget(url_id, path or "/", region)
    if path.startswith(PATH_PREFIX):
        url_id, _, rest = path[len(PATH_PREFIX) :].partition("/")
        return UrlTarget(url_id, "/" + rest)
    return None


class FunctionUrlFront:
    """ASGI app for function URL requests (see the module doc)."""

    def __init__(self, context: ApiContext, max_body: int = MAX_SYNC_PAYLOAD) -> None:
        self.ctx = context
        self.max_body = max_body
        self.authenticator = Authenticator(context.credentials, frozenset({"lambda"}))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self._answer(scope, receive)
        await response(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive) -> Response:
        headers = _header_pairs(scope)
        joined = dict(headers)
        target = url_target(_host_name(joined.get("host", "")), scope["path"])
        ctx = self.ctx
        config = None
        if target is not None:
            region = target.region or await ctx.function_urls.region_of(target.url_id)
            ctx = ctx.in_region(region or ctx.region)
            config = await ctx.function_urls.by_url_id(target.url_id)
        if target is None or config is None:
            return error_response(
                "ResourceNotFoundException", 404, "The function URL does not exist."
            )
        if _declared_length(joined) > self.max_body:
            return _too_large(self.max_body)
        body = await _read_body(receive, self.max_body)
        if body is None:
            return _too_large(self.max_body)
        method = scope["method"]
        if config.cors is not None and is_preflight(method, joined):
            return _raw_response(200, preflight_headers(config.cors, joined), b"")
        refusal = await self._authenticate(scope, config, body)
        if refusal is not None:
            return refusal
        if not await self._caller_allowed(ctx, scope, config):
            return _message(403, "Forbidden")
        request = UrlRequest(
            url_id=config.url_id,
            domain_name=joined.get("host", ""),
            method=method,
            path=target.path,
            raw_query=scope.get("query_string", b"").decode("latin-1"),
            headers=[*headers, *_forwarded(scope)],
            body=body,
            source_ip=(scope.get("client") or ("127.0.0.1", 0))[0],
            protocol=f"HTTP/{scope.get('http_version', '1.1')}",
            request_id=scope.get("state", {}).get("request_id") or str(uuid.uuid4()),
            account_id="anonymous" if config.auth_type == "NONE" else ctx.account.account_id,
            time_s=time.time(),
        )
        if config.invoke_mode == "RESPONSE_STREAM":
            return self._streamed(ctx, config, request, joined)
        answer = await self._invoke(ctx, config, request)
        if isinstance(answer, Response):
            return answer
        out = answer.headers
        if config.cors is not None:
            out = response_headers(config.cors, joined, out)
        return _raw_response(answer.status, out, answer.body)

    def _streamed(
        self,
        ctx: ApiContext,
        config: FunctionUrlConfig,
        request: UrlRequest,
        joined: dict[str, str],
    ) -> Response:
        qualifier = None if config.qualifier == LATEST else config.qualifier
        payload = json.dumps(url_event(request)).encode()
        invoker = ctx.invoker

        async def run(stream: ResponseStream) -> InvokeResult:
            target = await invoker.resolve(config.function_name, qualifier)
            return await invoker.invoke(
                target, payload, request_id=request.request_id, response=stream
            )

        def refused(error: LambdadError | None) -> Response:
            if isinstance(error, TooManyRequests):
                return error_response("TooManyRequestsException", 429, "Rate Exceeded.")
            if error is not None:
                log.warning("function URL %s: %s: %s", config.url_id, error.code, error)
            return _message(502, "Internal Server Error")

        def decorate(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
            if config.cors is not None:
                headers = response_headers(config.cors, joined, headers)
            return [(name, value) for name, value in headers if name not in FRAMING_HEADERS]

        return StreamedUrlResponse(config.url_id, run, refused, decorate)

    async def _authenticate(
        self, scope: Scope, config: FunctionUrlConfig, body: bytes
    ) -> Response | None:
        """Put the caller's principal in the request state; a refusal, or None."""
        principal = Principal.anonymous()
        if config.auth_type == "AWS_IAM" and self.ctx.settings.auth_enabled:
            try:
                claim, credential = await self.authenticator.claim(scope)
                principal = await self.authenticator.check(scope, claim, credential, body)
            except MissingAuthenticationToken:
                return _message(403, "Forbidden")
            except LambdadError as exc:
                return error_response(exc.code, exc.status, exc.message)
        scope.setdefault("state", {})["principal"] = principal
        return None

    async def _caller_allowed(
        self, ctx: ApiContext, scope: Scope, config: FunctionUrlConfig
    ) -> bool:
        """The caller needs both `lambda:InvokeFunctionUrl` and (via the URL)
        `lambda:InvokeFunction`. AuthType AWS_IAM: the signed caller, from its
        policies or the function's. AuthType NONE: anyone, from the function's (or
        alias's) resource policy alone, as AWS has required since October 2025 (what
        AddPermission with FunctionUrlAuthType=NONE and InvokedViaFunctionUrl writes);
        asked even with authorization off, since it is the function's own setting."""
        arn = ctx.function_urls.function_arn(config)
        checks = (
            ("lambda:InvokeFunctionUrl", {"lambda:FunctionUrlAuthType": config.auth_type}),
            ("lambda:InvokeFunction", {"lambda:InvokedViaFunctionUrl": "true"}),
        )
        if config.auth_type == "NONE":
            for action, keys in checks:
                if not await ctx.authorizer.anyone_may(action, arn, keys):
                    log.info("function URL %s: its policy does not allow %s", config.url_id, action)
                    return False
            return True
        principal = scope.get("state", {}).get("principal")
        try:
            for action, keys in checks:
                await ctx.authorizer.authorize(principal, action, [arn], keys)
        except AccessDenied as exc:
            log.info("function URL %s: %s", config.url_id, exc.message)
            return False
        return True

    async def _invoke(
        self, ctx: ApiContext, config: FunctionUrlConfig, request: UrlRequest
    ) -> UrlResponse | Response:
        qualifier = None if config.qualifier == LATEST else config.qualifier
        payload = json.dumps(url_event(request)).encode()
        try:
            target = await ctx.invoker.resolve(config.function_name, qualifier)
            result = await ctx.invoker.invoke(
                target,
                payload,
                trace_id=dict(request.headers).get("x-amzn-trace-id"),
                request_id=request.request_id,
            )
        except TooManyRequests:
            return error_response("TooManyRequestsException", 429, "Rate Exceeded.")
        except LambdadError as exc:
            log.warning("function URL %s: %s: %s", config.url_id, exc.code, exc)
            return _message(502, "Internal Server Error")
        if result.function_error:
            return _message(502, "Internal Server Error")
        try:
            return url_response(result.payload)
        except BadFunctionResponse as exc:
            log.info("function URL %s: the function's response is unusable: %s", config.url_id, exc)
            return _message(502, "Internal Server Error")


def _header_pairs(scope: Scope) -> list[tuple[str, str]]:
    return [
        (bytes(k).decode("latin-1").lower(), bytes(v).decode("latin-1"))
        for k, v in scope.get("headers", [])
    ]


def _forwarded(scope: Scope) -> list[tuple[str, str]]:
    """The headers AWS's front adds: who asked, on which port and scheme."""
    client = scope.get("client") or ("127.0.0.1", 0)
    server = scope.get("server") or ("127.0.0.1", 0)
    return [
        ("x-forwarded-for", client[0]),
        ("x-forwarded-port", str(server[1])),
        ("x-forwarded-proto", scope.get("scheme", "http")),
    ]


def _declared_length(headers: dict[str, str]) -> int:
    try:
        return int(headers.get("content-length", "0"))
    except ValueError:
        return 0  # the body is counted while it is read


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None as soon as it passes `limit` (nothing more is read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _too_large(limit: int) -> Response:
    message = f"Request must be smaller than {limit} bytes for a function URL"
    return error_response("RequestEntityTooLargeException", 413, message)


def _message(status: int, message: str) -> Response:
    return Response(
        json.dumps({"Message": message}).encode(), status, media_type="application/json"
    )


def _raw_response(status: int, headers: list[tuple[str, str]], body: bytes) -> Response:
    """A response with exactly these headers (repeated names such as Set-Cookie stay
    separate); the framing headers are the server's, never the function's."""
    response = Response(body, status)
    response.raw_headers += [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in headers
        if name not in FRAMING_HEADERS
    ]
    return response
