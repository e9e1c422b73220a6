"""DirectInvoke takes exactly the requests Starlette's Invoke route would take, and
answers them as the route (behind Starlette's error handling) would."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from lambdad.api.app import method_not_allowed, not_found
from lambdad.api.authorization import authorized
from lambdad.api.direct_invoke import DirectInvoke, invoked_function
from lambdad.api.errors import handle_lambdad_error, handle_unexpected
from lambdad.errors import InvalidParameterValue, LambdadError, TooManyRequests

pytestmark = pytest.mark.anyio

INVOKE_PATH = "/2015-03-31/functions/{FunctionName}/invocations"

PATHS = [
    "/2015-03-31/functions/hello/invocations",
    "/2015-03-31/functions/hello:prod/invocations",
    "/2015-03-31/functions/arn:aws:lambda:us-east-1:123456789012:function:hi:1/invocations",
    "/2015-03-31/functions//invocations",
    "/2015-03-31/functions/a/b/invocations",
    "/2015-03-31/functions/hello/invocations/",
    "/2015-03-31/functions/hello/invocation",
    "/2015-03-31/functions/invocations",
    "/2015-03-31/functions/hello",
    "/2014-11-13/functions/hello/invoke-async",
]


@pytest.mark.parametrize("method", ["POST", "GET", "PUT"])
@pytest.mark.parametrize("path", PATHS)
def test_it_matches_what_the_route_matches(path: str, method: str) -> None:
    async def endpoint(_request: Request) -> Response:
        return Response()

    route = Route(INVOKE_PATH, endpoint, methods=["POST"])
    scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    match, params = route.matches(scope)
    expected = params["path_params"]["FunctionName"] if match is Match.FULL else None
    assert invoked_function(scope) == expected


class _Exempting:
    def exempts(self, _principal: Any) -> bool:
        return True


def _context() -> Any:
    context = SimpleNamespace(settings=SimpleNamespace(region="us-east-1"))
    context.authorizer = _Exempting()
    context.in_region = lambda _region: context
    return context


async def _answers(endpoint: Any, path: str, **kwargs: Any) -> list[tuple[int, str, bytes]]:
    """The answers of Starlette's route and of DirectInvoke (in that order)."""
    app = Starlette(
        routes=authorized([Route(INVOKE_PATH, endpoint, methods=["POST"])]),
        exception_handlers={
            LambdadError: handle_lambdad_error,
            404: not_found,
            405: method_not_allowed,
            Exception: handle_unexpected,
        },
    )
    app.state.lambdad = _context()
    answers = []
    for asgi in (app, DirectInvoke(app, endpoint)):
        transport = httpx.ASGITransport(asgi, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            response = await client.post(path, **kwargs)
        error_type = response.headers.get("x-amzn-errortype", "")
        answers.append((response.status_code, error_type, response.content))
    return answers


async def test_a_result_is_the_handlers_response() -> None:
    async def invoke(request: Request) -> Response:
        name = request.path_params["FunctionName"]
        body = await request.body()
        return Response(name.encode() + b" " + body, headers={"X-Amz-Executed-Version": "1"})

    route, direct = await _answers(invoke, "/2015-03-31/functions/f:1/invocations", content=b"{}")
    assert route == direct == (200, "", b"f:1 {}")


@pytest.mark.parametrize(
    "error", [InvalidParameterValue("bad"), TooManyRequests("slow down", reason="Reserved")]
)
async def test_errors_are_rendered_as_the_route_renders_them(error: LambdadError) -> None:
    async def invoke(_request: Request) -> Response:
        raise error

    route, direct = await _answers(invoke, "/2015-03-31/functions/f/invocations")
    assert route == direct
    assert route[:2] == (error.status, error.code)


async def test_an_unexpected_error_is_a_service_exception() -> None:
    async def invoke(_request: Request) -> Response:
        raise KeyError("bug")

    route, direct = await _answers(invoke, "/2015-03-31/functions/f/invocations")
    assert route == direct
    assert route[:2] == (500, "ServiceException")


async def test_other_requests_go_to_the_app() -> None:
    async def invoke(_request: Request) -> Response:
        return Response(b"invoked")

    for path in ("/2015-03-31/functions/a/b/invocations", "/2015-03-31/functions/f"):
        route, direct = await _answers(invoke, path)
        assert route == direct
        assert route[:2] == (404, "UnknownOperationException")
