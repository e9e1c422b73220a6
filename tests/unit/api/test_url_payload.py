"""Function URL requests as payload format 2.0 events, and results as responses."""

from __future__ import annotations

import base64
import json

import pytest

from lambdad.api.url_front import UrlTarget, url_target
from lambdad.api.url_payload import (
    BadFunctionResponse,
    UrlRequest,
    url_event,
    url_prelude,
    url_response,
)

ID = "a" * 32


def request(**changes: object) -> UrlRequest:
    values: dict[str, object] = {
        "url_id": ID,
        "domain_name": f"{ID}.lambda-url.us-east-1.localhost:9000",
        "method": "POST",
        "path": "/p",
        "raw_query": "",
        "headers": [("content-type", "application/json")],
        "body": b"",
        "source_ip": "127.0.0.1",
        "protocol": "HTTP/1.1",
        "request_id": "r1",
        "account_id": "anonymous",
        "time_s": 1_700_000_000.5,
    }
    values.update(changes)
    return UrlRequest(**values)  # type: ignore[arg-type]


def test_time_and_optional_members() -> None:
    event = url_event(request())
    assert event["requestContext"]["time"] == "14/Nov/2023:22:13:20 +0000"
    assert event["requestContext"]["timeEpoch"] == 1_700_000_000_500
    for absent in ("cookies", "queryStringParameters", "body"):
        assert absent not in event
    assert event["isBase64Encoded"] is False


@pytest.mark.parametrize(
    ("content_type", "body", "base64_encoded"),
    [
        ("application/json", b'{"a": 1}', False),
        ("text/plain; charset=utf-8", "é".encode(), False),
        ("application/vnd.api+json", b"{}", False),
        ("application/x-www-form-urlencoded", b"a=1", False),
        ("application/octet-stream", b"abc", True),
        ("image/png", b"\x89PNG", True),
        ("", b"abc", True),
        ("text/plain", b"\xff\xfe", True),  # declared text, not UTF-8
    ],
)
def test_body_encoding_follows_the_content_type(
    content_type: str, body: bytes, base64_encoded: bool
) -> None:
    headers = [("content-type", content_type)] if content_type else []
    event = url_event(request(headers=headers, body=body))
    assert event["isBase64Encoded"] is base64_encoded
    decoded = base64.b64decode(event["body"]) if base64_encoded else event["body"].encode()
    assert decoded == body


def test_headers_and_query_repeat_as_comma_joined() -> None:
    event = url_event(
        request(
            headers=[("x-a", "1"), ("x-a", "2"), ("cookie", "s=1; t=2")],
            raw_query="q=1&q=2&e=&plus=a+b",
        )
    )
    assert event["headers"] == {"x-a": "1,2"}
    assert event["cookies"] == ["s=1", "t=2"]
    assert event["queryStringParameters"] == {"q": "1,2", "e": "", "plus": "a b"}


def test_a_status_code_dict_is_mapped() -> None:
    response = url_response(
        json.dumps(
            {
                "statusCode": 404,
                "headers": {"X-Thing": "v", "x-n": 5},
                "cookies": ["a=1", "b=2"],
                "body": base64.b64encode(b"\x00\x01").decode(),
                "isBase64Encoded": True,
            }
        ).encode()
    )
    assert response.status == 404
    assert response.body == b"\x00\x01"
    assert response.headers == [
        ("x-thing", "v"),
        ("x-n", "5"),
        ("set-cookie", "a=1"),
        ("set-cookie", "b=2"),
        ("content-type", "application/json"),
    ]


@pytest.mark.parametrize(
    "result", [{"hello": "world"}, [1, 2], "text", 7, None, {"body": "no status"}]
)
def test_any_other_json_is_a_200_json_body(result: object) -> None:
    payload = json.dumps(result).encode()
    response = url_response(payload)
    assert (response.status, response.body) == (200, payload)
    assert response.headers == [("content-type", "application/json")]


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b'{"statusCode": "abc"}',
        b'{"statusCode": 99}',
        b'{"statusCode": true}',
        b'{"statusCode": 200, "headers": {"x": "a\\r\\nInjected: 1"}}',
        b'{"statusCode": 200, "headers": {"x": "\\u2603"}}',
        b'{"statusCode": 200, "headers": []}',
        b'{"statusCode": 200, "cookies": "a=1"}',
        b'{"statusCode": 200, "body": "!!", "isBase64Encoded": true}',
    ],
)
def test_unusable_results_are_the_functions_fault(payload: bytes) -> None:
    with pytest.raises(BadFunctionResponse):
        url_response(payload)


@pytest.mark.parametrize(
    ("host", "path", "target"),
    [
        (f"{ID}.lambda-url.us-east-1.localhost", "/x/y", UrlTarget(ID, "/x/y", "us-east-1")),
        (f"{ID}.lambda-url.eu-west-1.localhost", "/", UrlTarget(ID, "/", "eu-west-1")),
        (f"{ID}.lambda-url.nowhere.localhost", "/", None),  # not a region
        ("127.0.0.1", f"/lambda-url/{ID}/x/y", UrlTarget(ID, "/x/y")),
        ("127.0.0.1", f"/lambda-url/{ID}", UrlTarget(ID, "/")),
        ("127.0.0.1", "/2015-03-31/functions", None),
    ],
)
def test_url_target(host: str, path: str, target: UrlTarget | None) -> None:
    assert url_target(host, path) == target


def test_streamed_prelude() -> None:
    raw = json.dumps(
        {"statusCode": 201, "headers": {"X-A": "1"}, "cookies": ["a=1", "b=2"]}
    ).encode()
    assert url_prelude(raw) == (
        201,
        [
            ("x-a", "1"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
            ("content-type", "application/octet-stream"),
        ],
    )
    assert url_prelude(b"") == (200, [("content-type", "application/octet-stream")])
    assert url_prelude(b'{"headers": {"content-type": "text/html"}}') == (
        200,
        [("content-type", "text/html")],
    )
    for bad in (b"[1]", b"{nope", b'{"statusCode": 99}', b'{"headers": {"a": "x\\ny"}}'):
        with pytest.raises(BadFunctionResponse):
            url_prelude(bad)
