"""Function URLs answered over plain HTTP (httpx and curl) by a live server whose
functions run in bwrap sandboxes: host-based and path-based, payload format 2.0
in, AWS's response mapping out, CORS, and what never reaches a function."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from support.invoke import InvokeServer, allow_public, create_function
from support.server import http_auth

pytestmark = pytest.mark.compat

URL_HANDLER = """
import base64, json

def handler(event, context):
    path = event["rawPath"]
    if path.endswith("/fail"):
        raise RuntimeError("boom")
    if path.endswith("/plain"):
        return {"hello": "world"}
    if path.endswith("/list"):
        return [1, 2, 3]
    if path.endswith("/binary"):
        return {
            "statusCode": 201,
            "headers": {"content-type": "application/octet-stream"},
            "body": base64.b64encode(bytes(range(256))).decode(),
            "isBase64Encoded": True,
        }
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json", "x-custom": "yes",
                    "access-control-allow-origin": "https://from-the-function"},
        "cookies": ["a=1; Path=/", "b=2"],
        "body": json.dumps(event),
    }
"""


@pytest.fixture(scope="module")
def url_function(lam: Any) -> tuple[str, str]:
    """(function name, its URL) with a CORS config."""
    name = create_function(lam, f"url-{uuid.uuid4().hex[:8]}", {"app.py": URL_HANDLER})
    config = lam.create_function_url_config(
        FunctionName=name,
        AuthType="NONE",
        Cors={
            "AllowOrigins": ["https://app.example"],
            "AllowMethods": ["GET", "POST"],
            "AllowHeaders": ["x-custom"],
            "ExposeHeaders": ["x-custom"],
            "MaxAge": 600,
        },
    )
    allow_public(lam, name)
    return name, str(config["FunctionUrl"])


def host_based(server: InvokeServer, url: str) -> httpx.Client:
    """A client that sends the URL's Host to the server's loopback address."""
    host = urlsplit(url).netloc
    return httpx.Client(base_url=server.url, headers={"host": host}, timeout=30)


def url_id(url: str) -> str:
    return urlsplit(url).hostname.split(".", 1)[0]  # type: ignore[union-attr]


def test_get_with_headers_cookies_and_query(
    invoke_server: InvokeServer, url_function: tuple[str, str]
) -> None:
    _, url = url_function
    with host_based(invoke_server, url) as client:
        response = client.get(
            "/some/path?a=1&a=2&b=",
            headers=[
                ("x-multi", "one"),
                ("X-Multi", "two"),
                ("user-agent", "tester/1"),
                ("cookie", "session=s1; t=2"),
            ],
        )
    assert response.status_code == 200, response.text
    assert response.headers["x-custom"] == "yes"
    assert response.headers.get_list("set-cookie") == ["a=1; Path=/", "b=2"]
    event = response.json()
    assert event["version"] == "2.0"
    assert event["routeKey"] == "$default"
    assert event["rawPath"] == "/some/path"
    assert event["rawQueryString"] == "a=1&a=2&b="
    assert event["queryStringParameters"] == {"a": "1,2", "b": ""}
    assert event["cookies"] == ["session=s1", "t=2"]
    assert event["headers"]["x-multi"] == "one,two"
    assert "cookie" not in event["headers"]
    assert event["headers"]["host"] == urlsplit(url).netloc
    assert event["isBase64Encoded"] is False
    assert "body" not in event
    context = event["requestContext"]
    assert context["apiId"] == context["domainPrefix"] == url_id(url)
    assert context["domainName"] == urlsplit(url).netloc
    assert context["accountId"] == "anonymous"
    assert context["http"] == {
        "method": "GET",
        "path": "/some/path",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "tester/1",
    }
    assert context["stage"] == "$default"
    assert context["requestId"] == response.headers["x-amzn-requestid"]
    assert isinstance(context["timeEpoch"], int)


def test_post_text_and_binary_bodies_path_based(
    invoke_server: InvokeServer, url_function: tuple[str, str]
) -> None:
    _, url = url_function
    base = f"{invoke_server.url}/lambda-url/{url_id(url)}"
    text = httpx.post(
        f"{base}/echo", content=b'{"k": "v"}', headers={"content-type": "application/json"}
    )
    assert text.status_code == 200, text.text
    event = text.json()
    assert event["rawPath"] == "/echo"
    assert (event["body"], event["isBase64Encoded"]) == ('{"k": "v"}', False)

    binary = bytes(range(256)) * 4
    sent = httpx.post(
        f"{base}/echo", content=binary, headers={"content-type": "application/octet-stream"}
    )
    event = sent.json()
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == binary

    answer = httpx.get(f"{base}/binary")
    assert answer.status_code == 201
    assert answer.headers["content-type"] == "application/octet-stream"
    assert answer.content == bytes(range(256))


def test_head_has_the_get_answers_headers_without_a_body(
    invoke_server: InvokeServer, url_function: tuple[str, str]
) -> None:
    _, url = url_function
    response = httpx.head(f"{invoke_server.url}/lambda-url/{url_id(url)}/plain")
    assert (response.status_code, response.content) == (200, b"")
    assert response.headers["content-type"] == "application/json"


def test_other_results_are_200_json(
    invoke_server: InvokeServer, url_function: tuple[str, str]
) -> None:
    _, url = url_function
    base = f"{invoke_server.url}/lambda-url/{url_id(url)}"
    plain = httpx.get(f"{base}/plain")
    assert (plain.status_code, plain.headers["content-type"]) == (200, "application/json")
    assert plain.json() == {"hello": "world"}
    assert httpx.get(f"{base}/list").json() == [1, 2, 3]


def test_function_error_is_502(invoke_server: InvokeServer, url_function: tuple[str, str]) -> None:
    _, url = url_function
    response = httpx.get(f"{invoke_server.url}/lambda-url/{url_id(url)}/fail")
    assert response.status_code == 502
    assert response.json() == {"Message": "Internal Server Error"}


def test_cors_preflight_and_response_headers(
    invoke_server: InvokeServer, url_function: tuple[str, str]
) -> None:
    _, url = url_function
    with host_based(invoke_server, url) as client:
        preflight = client.options(
            "/fail",  # answered by the server: the function would fail
            headers={
                "origin": "https://app.example",
                "access-control-request-method": "POST",
                "access-control-request-headers": "x-custom",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        assert preflight.headers["access-control-allow-methods"] == "GET, POST"
        assert preflight.headers["access-control-allow-headers"] == "x-custom"
        assert preflight.headers["access-control-max-age"] == "600"

        refused = client.options(
            "/", headers={"origin": "https://evil.example", "access-control-request-method": "GET"}
        )
        assert refused.status_code == 200
        assert "access-control-allow-origin" not in refused.headers

        # A cross-origin request reaches the function; the config's CORS headers
        # replace the function's own.
        actual = client.post(
            "/echo",
            content=b"x",
            headers={"origin": "https://app.example", "sec-fetch-site": "cross-site"},
        )
        assert actual.status_code == 200
        assert actual.headers.get_list("access-control-allow-origin") == ["https://app.example"]
        assert actual.headers["access-control-expose-headers"] == "x-custom"


def test_what_never_reaches_a_function(
    invoke_server: InvokeServer, lam: Any, url_function: tuple[str, str]
) -> None:
    name, url = url_function
    unknown = "a" * 32
    missing = httpx.get(f"{invoke_server.url}/lambda-url/{unknown}/")
    assert (missing.status_code, missing.headers["x-amzn-errortype"]) == (
        404,
        "ResourceNotFoundException",
    )
    host = urlsplit(url).netloc.replace(url_id(url), unknown)
    assert httpx.get(invoke_server.url, headers={"host": host}).status_code == 404
    too_big = httpx.post(
        f"{invoke_server.url}/lambda-url/{url_id(url)}/echo",
        content=b"x" * (6 * 1024 * 1024 + 1),
        headers={"content-type": "text/plain"},
        timeout=30,
    )
    assert too_big.status_code == 413
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    try:
        throttled = httpx.get(f"{invoke_server.url}/lambda-url/{url_id(url)}/")
        assert (throttled.status_code, throttled.json()["message"]) == (429, "Rate Exceeded.")
    finally:
        lam.delete_function_concurrency(FunctionName=name)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_with_the_url_as_returned(url_function: tuple[str, str]) -> None:
    _, url = url_function
    result = subprocess.run(
        [
            "curl",
            "-sS",
            "--max-time",
            "30",
            "-X",
            "POST",
            "-H",
            "content-type: text/plain",
            "--data-binary",
            "hello",
            "-b",
            "c=1",
            f"{url}path?q=1",
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )
    event = json.loads(result.stdout)
    assert (event["rawPath"], event["body"], event["cookies"]) == ("/path", "hello", ["c=1"])
    assert event["queryStringParameters"] == {"q": "1"}


def test_path_based_urls_answer_only_the_servers_own_names(
    invoke_server: InvokeServer, url_function: tuple[str, str]
) -> None:
    _, url = url_function
    path = f"{invoke_server.url}/lambda-url/{url_id(url)}/plain"
    rebound = httpx.get(path, headers={"host": "evil.example"})
    assert (rebound.status_code, rebound.headers["x-amzn-errortype"]) == (
        403,
        "AccessDeniedException",
    )
    # A cross-origin request is the URL's to answer (its CORS config), not refused.
    cross = httpx.get(path, headers={"origin": "https://elsewhere.example"})
    assert cross.status_code == 200
    assert "access-control-allow-origin" not in cross.headers


def test_a_none_url_answers_only_when_the_policy_allows_the_public(
    invoke_server: InvokeServer, lam: Any
) -> None:
    name = create_function(lam, f"url-{uuid.uuid4().hex[:8]}", {"app.py": URL_HANDLER})
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"]
    path = f"{invoke_server.url}/lambda-url/{url_id(url)}/plain"
    forbidden = httpx.get(path)
    assert (forbidden.status_code, forbidden.json()) == (403, {"Message": "Forbidden"})
    lam.add_permission(
        FunctionName=name,
        StatementId="url",
        Action="lambda:InvokeFunctionUrl",
        Principal="*",
        FunctionUrlAuthType="NONE",
    )
    assert httpx.get(path).status_code == 403  # lambda:InvokeFunction is needed too
    lam.add_permission(
        FunctionName=name,
        StatementId="invoke",
        Action="lambda:InvokeFunction",
        Principal="*",
        InvokedViaFunctionUrl=True,
    )
    assert httpx.get(path).json() == {"hello": "world"}
    # An alias's URL goes by the alias's own policy.
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    live = lam.create_function_url_config(FunctionName=name, Qualifier="live", AuthType="NONE")
    live_path = f"{invoke_server.url}/lambda-url/{url_id(live['FunctionUrl'])}/plain"
    assert httpx.get(live_path).status_code == 403
    allow_public(lam, name, "live")
    assert httpx.get(live_path).json() == {"hello": "world"}
    # AWS_IAM takes SigV4-signed requests (service lambda) only.
    lam.update_function_url_config(FunctionName=name, Qualifier="live", AuthType="AWS_IAM")
    lam.remove_permission(FunctionName=name, Qualifier="live", StatementId="url")
    unsigned = httpx.get(live_path)
    assert (unsigned.status_code, unsigned.json()) == (403, {"Message": "Forbidden"})
    assert httpx.get(live_path, auth=http_auth(invoke_server.url)).json() == {"hello": "world"}
    wrong_service = httpx.get(live_path, auth=http_auth(invoke_server.url, service="events"))
    assert wrong_service.status_code == 403
    assert wrong_service.headers["x-amzn-ErrorType"] == "InvalidSignatureException"
