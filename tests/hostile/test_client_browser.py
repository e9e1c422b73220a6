"""The browser as an attacker: a web page the operator visits makes their
browser call the API (a cross-site form post, a fetch, DNS rebinding). Every
such request is refused; boto3 and the AWS CLI, which send none of what a
browser sends, keep working (the compat tier drives them)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from support.invoke import create_function
from support.rawhttp import RawResponse, request
from support.server import ROLE, LambdadServer, boto3_client

ECHO = "def handler(event, context):\n    return event\n"
NAME = "browser-target"
FUNCTIONS = "/2015-03-31/functions"
CREATE_BODY = json.dumps(
    {
        "FunctionName": "planted-by-a-page",
        "Role": ROLE,
        "Runtime": "python3.12",
        "Handler": "app.handler",
        "Code": {"ZipFile": "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="},
    }
).encode()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LambdadServer]:
    data_dir = tmp_path_factory.mktemp("browser") / "data"
    public = "lambda.example.test"
    with LambdadServer(data_dir, args=["--public-host", public]) as running:
        create_function(boto3_client(running.url), NAME, {"app.py": ECHO})
        yield running


def send(
    server: LambdadServer, method: str, path: str, headers: dict[str, str], body: bytes = b""
) -> RawResponse:
    all_headers = {**headers, "Content-Length": str(len(body))}
    return request(server.url, method, path, all_headers, [body] if body else [])


def assert_refused(answer: RawResponse, code: str, status: int) -> None:
    assert (answer.status, answer.error_type) == (status, code), answer
    assert json.loads(answer.body)["message"], answer


def planted(lam: Any) -> bool:
    names = [f["FunctionName"] for f in lam.list_functions()["Functions"]]
    return "planted-by-a-page" in names


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:9000", "localhost.evil.example", "", "127.0.0.1.nip.io"]
)
def test_dns_rebinding_host_is_refused(server: LambdadServer, host: str) -> None:
    answer = send(server, "GET", f"{FUNCTIONS}/{NAME}", {"Host": host})
    assert_refused(answer, "AccessDeniedException", 403)
    assert "browser-target" not in answer.body.decode()


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "LOCALHOST.", "[::1]", "lambda.example.test"]
)
def test_served_names_are_answered(server: LambdadServer, host: str) -> None:
    answer = send(server, "GET", f"{FUNCTIONS}/{NAME}", {"Host": f"{host}:{server.port}"})
    assert answer.status == 200, answer


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://localhost:8080"},  # another origin of the same site
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
def test_cross_origin_requests_are_refused(server: LambdadServer, headers: dict[str, str]) -> None:
    lam = boto3_client(server.url)
    read = send(server, "GET", f"{FUNCTIONS}/{NAME}", headers)
    assert_refused(read, "AccessDeniedException", 403)
    create = send(
        server, "POST", FUNCTIONS, {**headers, "Content-Type": "application/json"}, CREATE_BODY
    )
    assert_refused(create, "AccessDeniedException", 403)
    invoke = send(server, "POST", f"{FUNCTIONS}/{NAME}/invocations", headers, b"{}")
    assert_refused(invoke, "AccessDeniedException", 403)
    assert not planted(lam)


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://127.0.0.1:{port}"},
        {"Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},  # typed in the address bar
    ],
)
def test_same_origin_requests_are_answered(server: LambdadServer, headers: dict[str, str]) -> None:
    filled = {k: v.format(port=server.port) for k, v in headers.items()}
    assert send(server, "GET", f"{FUNCTIONS}/{NAME}", filled).status == 200


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        None,
    ],
)
def test_form_posts_without_origin_create_nothing(
    server: LambdadServer, content_type: str | None
) -> None:
    # An old browser, or a client that strips Origin: the body's type still gives it away.
    headers = {} if content_type is None else {"Content-Type": content_type}
    answer = send(server, "POST", FUNCTIONS, headers, CREATE_BODY)
    assert_refused(answer, "UnsupportedMediaTypeException", 415)
    tags = send(
        server,
        "POST",
        f"/2017-03-31/tags/arn:aws:lambda:us-east-1:000000000000:function:{NAME}",
        headers,
        b'{"Tags": {"owned": "yes"}}',
    )
    assert_refused(tags, "UnsupportedMediaTypeException", 415)
    assert not planted(boto3_client(server.url))


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_invoke_from_a_form_is_refused(server: LambdadServer, content_type: str) -> None:
    answer = send(
        server, "POST", f"{FUNCTIONS}/{NAME}/invocations", {"Content-Type": content_type}, b"{}"
    )
    assert_refused(answer, "UnsupportedMediaTypeException", 415)


@pytest.mark.parametrize("content_type", [None, "application/json", "application/octet-stream"])
def test_invoke_payload_types_sdks_send_are_accepted(
    server: LambdadServer, content_type: str | None
) -> None:
    headers = {"X-Amz-Invocation-Type": "DryRun"}
    if content_type:
        headers["Content-Type"] = content_type
    answer = send(server, "POST", f"{FUNCTIONS}/{NAME}/invocations", headers, b"{}")
    assert answer.status == 204, answer


def test_empty_body_without_type_is_accepted(server: LambdadServer) -> None:
    # curl -X POST .../versions: nothing a page could smuggle in a body.
    answer = send(server, "POST", f"{FUNCTIONS}/{NAME}/versions", {})
    assert answer.status == 201, answer


def test_function_url_hosts_never_reach_the_api(server: LambdadServer) -> None:
    host = f"abc123.lambda-url.us-east-1.localhost:{server.port}"
    for headers in ({"Host": host}, {"Host": host, "Origin": "http://evil.example"}):
        answer = send(server, "GET", f"{FUNCTIONS}/{NAME}", headers)
        assert_refused(answer, "ResourceNotFoundException", 404)
        assert NAME not in answer.body.decode()
