"""A hostile client sends malformed input everywhere: every answer is an AWS-style
4xx error (x-amzn-ErrorType plus a JSON message), never a 500."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest

from support.invoke import create_function
from support.rawhttp import RawResponse, request
from support.server import LambdadServer, boto3_client

JSON = {"Content-Type": "application/json"}
ECHO = "def handler(event, context):\n    return event\n"
NAME = "malformed-target"
FUNCTION = f"/2015-03-31/functions/{NAME}"
DEEP_ARRAY = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 5_000 + b"1" + b"}" * 5_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LambdadServer]:
    data_dir = tmp_path_factory.mktemp("malformed") / "data"
    with LambdadServer(data_dir) as running:
        create_function(boto3_client(running.url), NAME, {"app.py": ECHO})
        yield running


def send(
    server: LambdadServer,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> RawResponse:
    all_headers = {**(headers or {}), "Content-Length": str(len(body))}
    return request(server.url, method, path, all_headers, [body] if body else [])


def assert_client_error(answer: RawResponse, code: str | None = None) -> None:
    assert 400 <= answer.status < 500, answer
    assert answer.error_type, answer
    assert json.loads(answer.body)["message"], answer
    if code is not None:
        assert answer.error_type == code, answer


@pytest.mark.parametrize("payload", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
def test_deeply_nested_invoke_payload_is_invalid_content(
    server: LambdadServer, payload: bytes
) -> None:
    for headers in ({}, {"X-Amz-Invocation-Type": "DryRun"}):
        answer = send(server, "POST", f"{FUNCTION}/invocations", payload, headers)
        assert_client_error(answer, "InvalidRequestContentException")


def test_deeply_nested_client_context_is_invalid_content(server: LambdadServer) -> None:
    context = base64.b64encode(b"[" * 1_300 + b"]" * 1_300).decode()  # under 3583 bytes
    answer = send(
        server, "POST", f"{FUNCTION}/invocations", b"{}", {"X-Amz-Client-Context": context}
    )
    assert_client_error(answer, "InvalidRequestContentException")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/2015-03-31/functions"),
        ("PUT", f"{FUNCTION}/configuration"),
        ("POST", f"{FUNCTION}/versions"),
        ("POST", f"/2017-03-31/tags/arn:aws:lambda:us-east-1:000000000000:function:{NAME}"),
        ("POST", "/2018-10-31/layers/some-layer/versions"),
        ("PUT", f"/2019-09-25/functions/{NAME}/event-invoke-config"),
        ("POST", f"{FUNCTION}/policy"),
        ("POST", f"{FUNCTION}/aliases"),
        ("PUT", f"/2017-10-31/functions/{NAME}/concurrency"),
        ("PUT", f"/2019-09-30/functions/{NAME}/provisioned-concurrency?Qualifier=1"),
        ("PUT", f"/2024-08-31/functions/{NAME}/recursion-config"),
        ("PUT", f"{FUNCTION}/aliases/live"),
    ],
)
@pytest.mark.parametrize(
    "body",
    [
        b'{"Unknown": ' + DEEP_ARRAY[:40_000] + b"}",
        b'{"Description": ' + DEEP_OBJECT + b"}",
        b"\xff\xfe{not utf-8",
        b'{"Tags": {"a": 1}, "MemorySize": "lots", "Description": 7}',
        b"[]",
        b"null",
    ],
    ids=["deep-unknown", "deep-known", "not-utf8", "wrong-types", "array", "null"],
)
def test_malformed_json_bodies_are_client_errors(
    server: LambdadServer, method: str, path: str, body: bytes
) -> None:
    assert_client_error(send(server, method, path, body, JSON))


@pytest.mark.parametrize(
    "path",
    [
        f"/_lambdad/functions/{NAME}/logs?after=abc",
        f"/_lambdad/functions/{NAME}/logs?limit=abc",
        f"/_lambdad/functions/{NAME}/logs?limit=-5",
        f"/_lambdad/functions/{NAME}/logs?after=-1",
        f"/_lambdad/functions/{NAME}/logs?after=99999999999999999999999",
        "/2015-03-31/functions?MaxItems=abc",
        "/2015-03-31/functions?MaxItems=0",
        "/2015-03-31/functions?MaxItems=-3",
        "/2015-03-31/functions?MaxItems=100000",
        "/2015-03-31/functions?Marker=%00%ff",
        "/2015-03-31/functions?Marker=-1",
        "/2015-03-31/functions?FunctionVersion=nope",
        f"{FUNCTION}/versions?Marker=abc",
        f"{FUNCTION}/versions?Marker=-5",
        f"{FUNCTION}/versions?MaxItems=abc",
        f"{FUNCTION}/versions?MaxItems=0",
        f"{FUNCTION}?Qualifier=%00",
        f"{FUNCTION}?Qualifier={'9' * 200}",
        f"{FUNCTION}/configuration?Qualifier=$LATEST%2F..",
        "/2015-03-31/functions/%00%ff/configuration",
        f"/2015-03-31/functions/{'a' * 5000}",
        "/2017-03-31/tags/not-an-arn",
        "/2017-03-31/tags/arn:aws:lambda:us-east-1:000000000000:function:%ff",
        "/2018-10-31/layers?MaxItems=abc",
        "/2018-10-31/layers?MaxItems=0",
        "/2018-10-31/layers?Marker=%ff%ff",
        "/2018-10-31/layers/some-layer/versions?MaxItems=-1",
        "/2018-10-31/layers/some-layer/versions/abc",
        "/2018-10-31/layers/some-layer/versions/99999999999999999999999",
        "/2018-10-31/layers/some-layer/versions/1/policy",
        f"/2019-09-25/functions/{NAME}/event-invoke-config/list?MaxItems=abc",
        f"/2019-09-25/functions/{NAME}/event-invoke-config/list?MaxItems=0",
        f"/2019-09-25/functions/{NAME}/event-invoke-config/list?Marker=%ff%ff",
        f"/2019-09-25/functions/{NAME}/event-invoke-config?Qualifier=%00",
        f"{FUNCTION}/policy?Qualifier=%00",
        f"/2019-09-30/functions/{NAME}/provisioned-concurrency?Qualifier=%00",
        f"/2019-09-30/functions/{NAME}/provisioned-concurrency?List=ALL&MaxItems=abc",
        f"/2019-09-30/functions/{NAME}/provisioned-concurrency?List=ALL&MaxItems=0",
        f"/2019-09-30/functions/{NAME}/provisioned-concurrency?List=ALL&Marker=%ff%ff",
        f"/2019-09-30/functions/{NAME}/provisioned-concurrency?List=NOPE",
        f"{FUNCTION}/aliases?MaxItems=abc",
        f"{FUNCTION}/aliases?MaxItems=0",
        f"{FUNCTION}/aliases?FunctionVersion=%00",
        f"{FUNCTION}/aliases/%00%ff",
        f"{FUNCTION}/aliases/{'a' * 500}",
        "/_lambdad/code/..%2F..%2Fetc?Expires=abc&Signature=x",
        "/_lambdad/code/x?Expires=99999999999999999999999999&Signature=x",
    ],
)
def test_malformed_query_and_path_are_client_errors(server: LambdadServer, path: str) -> None:
    assert_client_error(send(server, "GET", path))


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Amz-Invocation-Type": "Sideways"},
        {"X-Amz-Log-Type": "Everything"},
        {"X-Amz-Client-Context": "%%%not base64"},
        {"X-Amz-Client-Context": base64.b64encode(b"\xff\xfe").decode()},
    ],
)
def test_malformed_invoke_headers_are_client_errors(
    server: LambdadServer, headers: dict[str, str]
) -> None:
    assert_client_error(send(server, "POST", f"{FUNCTION}/invocations", b"{}", headers))


@pytest.mark.parametrize(
    "path",
    [
        f"{FUNCTION}?Qualifier=%00",
        f"{FUNCTION}?Qualifier=nope",
        f"/2017-03-31/tags/arn:aws:lambda:us-east-1:000000000000:function:{NAME}",
    ],
)
def test_malformed_deletes_are_client_errors(server: LambdadServer, path: str) -> None:
    assert_client_error(send(server, "DELETE", path))
