"""What the hot path reads from a request without Starlette's wrappers: headers
from the scope, the request id, the region and context, the FunctionName.
Each answers as the Starlette way it replaces."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.requests import Request

from lambdad.api.app import new_request_id
from lambdad.api.asgi_headers import declared_length, first_headers, header
from lambdad.api.context import ApiContext
from lambdad.api.regions import request_region
from lambdad.catalog.names import Account
from lambdad.errors import LambdadError

RAW = [
    (b"host", b"localhost:9000"),
    (b"x-amz-log-type", b"Tail"),
    (b"x-amz-log-type", b"None"),
    (b"x-odd", "caf\u00e9".encode("latin-1")),
    (b"content-length", b"12"),
]


def _request(headers: list[tuple[bytes, bytes]], query: bytes = b"", **scope: Any) -> Request:
    return Request({"type": "http", "headers": headers, "query_string": query, **scope})


@pytest.mark.parametrize("name", ["host", "x-amz-log-type", "x-odd", "content-length", "absent"])
def test_a_header_is_what_starlette_answers(name: str) -> None:
    request = _request(RAW)
    assert header(request.scope, name.encode()) == request.headers.get(name)
    expected = {name.encode(): request.headers[name]} if name in request.headers else {}
    assert first_headers(request.scope, {name.encode(), b"other"}) == expected


@pytest.mark.parametrize(
    ("value", "length"), [(b"12", 12), (b"", 0), (b"-1", 0), (b"1e3", 0), (b" 5", 0)]
)
def test_the_declared_length(value: bytes, length: int) -> None:
    scope = {"headers": [(b"content-length", value), (b"content-length", b"99")]}
    assert declared_length(scope) == length
    assert declared_length({"headers": []}) == 0


def test_a_request_id_is_a_random_uuid4() -> None:
    ids = {new_request_id() for _ in range(2000)}
    assert len(ids) == 2000
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
    # Every variant digit (8, 9, a, b) occurs: its two random bits are kept.
    assert {text[19] for text in ids} == set("89ab")


SCOPE = "Credential=AKID/20240101/{}/lambda/aws4_request, SignedHeaders=host, Signature=00"
PRESIGNED = b"X-Amz-Credential=AKID%2F20240101%2Fap-south-1%2Flambda%2Faws4_request"


@pytest.mark.parametrize(
    ("authorization", "query", "region"),
    [
        (SCOPE.format("eu-west-1"), b"", "eu-west-1"),
        (SCOPE.format("eu-west-1"), b"Qualifier=1", "eu-west-1"),
        (None, b"", "us-east-1"),
        (SCOPE.format("not a region"), b"", "us-east-1"),
        (None, PRESIGNED, "ap-south-1"),
        (SCOPE.format("eu-west-1"), PRESIGNED, "ap-south-1"),
    ],
)
def test_the_region_of_a_request(authorization: str | None, query: bytes, region: str) -> None:
    headers = [] if authorization is None else [(b"authorization", authorization.encode())]
    assert request_region(_request(headers, query), "us-east-1") == region


class _Context:
    """What ApiContext.of reads of the app's context, counting region lookups."""

    def __init__(self) -> None:
        self.settings = SimpleNamespace(region="us-east-1")
        self.regions: list[str] = []

    def in_region(self, region: str) -> Any:
        self.regions.append(region)
        return (self, region)


def test_the_context_of_a_request_is_worked_out_once_per_app() -> None:
    first, second = _Context(), _Context()
    app = SimpleNamespace(state=SimpleNamespace(lambdad=first))
    authorization = SCOPE.format("eu-west-1").encode()
    request = _request([(b"authorization", authorization)], app=app)
    found: Any = ApiContext.of(request)
    again: Any = ApiContext.of(request)
    assert found == again == (first, "eu-west-1")
    assert first.regions == ["eu-west-1"]
    app.state.lambdad = second  # another app's context is its own
    found = ApiContext.of(request)
    assert found == (second, "eu-west-1")


def _resolve(path_name: str, query: bytes = b"") -> Any:
    context = SimpleNamespace(account=Account("us-east-1", "123456789012"))
    request = _request([], query, path_params={"FunctionName": path_name})
    return ApiContext.resolve(context, request)  # type: ignore[arg-type]


def test_a_function_name_resolves_as_the_account_resolves_it() -> None:
    account = Account("us-east-1", "123456789012")
    for name, query, qualifier in [
        ("f", b"", None),
        ("f:prod", b"", None),
        ("f", b"Qualifier=7", "7"),
        ("arn:aws:lambda:us-east-1:123456789012:function:f", b"Qualifier=%24LATEST", "$LATEST"),
    ]:
        assert _resolve(name, query) == account.resolve(name, qualifier)
        assert _resolve(name, query) == account.resolve(name, qualifier)  # remembered


@pytest.mark.parametrize(
    ("name", "query"), [("f:1", b"Qualifier=2"), ("bad name!", b""), ("f", b"Qualifier=")]
)
def test_a_refused_function_name_is_refused_every_time(name: str, query: bytes) -> None:
    for _ in range(2):
        with pytest.raises(LambdadError):
            _resolve(name, query)
