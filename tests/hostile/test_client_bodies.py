"""A hostile client sends huge bodies: every route has AWS's size limit, enforced
while reading (chunked bodies too), so the server's memory stays flat."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.routing import Route

from lambdad.api.routes import routes
from support.procfs import peak_rss_bytes
from support.rawhttp import RawResponse, request
from support.server import LambdadServer

MB = 1024 * 1024
CHUNK = b"x" * MB
JSON = {"Content-Type": "application/json"}
FUNCTION = "/2015-03-31/functions/no-such-function"
TAGS = "/2017-03-31/tags/arn:aws:lambda:us-east-1:000000000000:function:no-such-function"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LambdadServer]:
    data_dir = tmp_path_factory.mktemp("bodies") / "data"
    with LambdadServer(data_dir) as running:
        yield running


def endless(megabytes: int) -> Iterator[bytes]:
    """A JSON-looking body that never closes: only a limit stops it."""
    yield b'{"Description": "'
    for _ in range(megabytes):
        yield CHUNK


def assert_too_large(answer: RawResponse, limit: int, operation: str) -> None:
    assert answer.status == 413, answer
    assert answer.error_type == "RequestEntityTooLargeException", answer
    message = json.loads(answer.body)["message"]
    assert message == f"Request must be smaller than {limit} bytes for the {operation} operation"
    assert answer.closed, "the rest of the body must not be read"


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [
        ("PUT", f"{FUNCTION}/configuration", "UpdateFunctionConfiguration"),
        ("POST", TAGS, "TagResource"),
        ("POST", f"{FUNCTION}/versions", "PublishVersion"),
    ],
)
def test_300mb_chunked_body_leaves_memory_flat(
    server: LambdadServer, method: str, path: str, operation: str
) -> None:
    assert server.process is not None
    peak_before = peak_rss_bytes(server.process.pid)
    answer = request(server.url, method, path, JSON, endless(300), chunked=True)
    assert_too_large(answer, 262_144, operation)
    assert answer.sent < 64 * MB, "the server kept reading past the limit"
    growth = peak_rss_bytes(server.process.pid) - peak_before
    assert growth < 30 * MB, f"server memory grew by {growth / MB:.0f} MB"


@pytest.mark.parametrize(
    ("path", "headers", "limit", "operation"),
    [
        (f"{FUNCTION}/invocations", {}, 6_291_456, "InvokeFunction"),
        (f"{FUNCTION}/invocations", {"X-Amz-Invocation-Type": "Event"}, 262_144, "InvokeFunction"),
        ("/2014-11-13/functions/no-such-function/invoke-async", {}, 262_144, "InvokeAsync"),
        ("/2015-03-31/functions", JSON, 70_167_211, "CreateFunction"),
    ],
)
def test_declared_length_over_the_limit_is_refused_before_reading(
    server: LambdadServer, path: str, headers: dict[str, str], limit: int, operation: str
) -> None:
    declared = {**headers, "Content-Length": str(limit + 1)}
    answer = request(server.url, "POST", path, declared)  # not one byte of the body
    assert_too_large(answer, limit, operation)


@pytest.mark.parametrize(
    ("method", "path", "limit", "operation"),
    [
        ("POST", f"{FUNCTION}/invocations", 6_291_456, "InvokeFunction"),
        ("PUT", f"{FUNCTION}/code", 70_167_211, "UpdateFunctionCode"),
    ],
)
def test_chunked_body_over_the_limit_is_refused_at_the_limit(
    server: LambdadServer, method: str, path: str, limit: int, operation: str
) -> None:
    headers = {} if operation == "InvokeFunction" else JSON
    answer = request(server.url, method, path, headers, endless(limit // MB + 8), chunked=True)
    assert_too_large(answer, limit, operation)


def test_body_at_the_limit_is_read(server: LambdadServer) -> None:
    # A configuration call just under its limit gets past the size check (to the 404).
    padding = " " * (262_144 - 2)
    body = f"{{{padding}}}".encode()
    assert len(body) == 262_144
    answer = request(
        server.url,
        "PUT",
        f"{FUNCTION}/configuration",
        {**JSON, "Content-Length": str(len(body))},
        [body],
    )
    assert answer.status == 404, answer
    assert answer.error_type == "ResourceNotFoundException"


def test_unread_body_of_a_get_does_not_grow_memory(server: LambdadServer, tmp_path: Path) -> None:
    assert server.process is not None
    peak_before = peak_rss_bytes(server.process.pid)
    answer = request(server.url, "GET", FUNCTION, {}, endless(100), chunked=True)
    assert answer.status == 404, answer
    growth = peak_rss_bytes(server.process.pid) - peak_before
    assert growth < 30 * MB, f"server memory grew by {growth / MB:.0f} MB"


PATH_PARAMS = {
    "FunctionName": "no-such-function",
    "Resource": "arn:aws:lambda:us-east-1:000000000000:function:no-such-function",
    "LayerName": "no-such-layer",
    "VersionNumber": "1",
    "Name": "no-such-alias",
    "StatementId": "no-such-statement",
    "key": "no-such-key",
    "ResourceArn": "arn:aws:scheduler:us-east-1:000000000000:schedule-group/no-such-group",
    "Service": "GraniteServiceVersion20100801",  # CloudWatch's CBOR protocol
    "Operation": "GetMetricData",
}
BODY_ROUTES = sorted(
    (method, re.sub(r"{(\w+)(?::\w+)?}", lambda m: PATH_PARAMS[m.group(1)], route.path))
    for route in routes
    if isinstance(route, Route)
    for method in (route.methods or ())
    if method in ("POST", "PUT")
)


@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
def test_every_route_stops_an_endless_body(server: LambdadServer, method: str, path: str) -> None:
    """Whatever the route (today's and tomorrow's), the server answers an endless
    body before it ends, past at most the largest limit, and stays small."""
    assert server.process is not None
    peak_before = peak_rss_bytes(server.process.pid)
    answer = request(server.url, method, path, JSON, endless(120), chunked=True)
    assert 400 <= answer.status < 500, answer
    assert answer.sent < 80 * MB, "the server kept reading past every limit"
    growth = peak_rss_bytes(server.process.pid) - peak_before
    assert growth < 200 * MB, f"server memory grew by {growth / MB:.0f} MB"
