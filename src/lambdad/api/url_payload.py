"""Function URL requests as events (payload format 2.0) and results as responses.

Pure translation, no I/O: `UrlRequest` is what the front read off the wire,
`url_event` is what the function receives, `url_response` maps what it
returned as AWS does, and `url_prelude` reads a streamed response's prelude:

- a JSON object with `statusCode`: status, `headers`, `cookies` (one
  Set-Cookie each), `body` (base64-decoded when `isBase64Encoded`);
- any other JSON value (an object without `statusCode` too): a 200
  `application/json` response whose body is that JSON.

A result that fits neither (not JSON, a non-integer status, a non-string body)
is the function's fault: `BadFunctionResponse`, answered as 502.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

# Bodies of these media types reach the function as text; every other body
# (and a body without a type) as base64, as AWS decides it.
TEXT_MEDIA_TYPES = frozenset(
    {
        "application/json",
        "application/javascript",
        "application/ecmascript",
        "application/xml",
        "application/x-www-form-urlencoded",
        "application/yaml",
        "application/x-yaml",
        "application/graphql",
    }
)
TEXT_SUFFIXES = ("+json", "+xml", "+yaml")


@dataclass(frozen=True)
class UrlRequest:
    url_id: str
    domain_name: str
    method: str
    path: str
    raw_query: str
    headers: list[tuple[str, str]]
    """Names lower-cased, in the order they came."""
    body: bytes
    source_ip: str
    protocol: str
    request_id: str
    account_id: str
    time_s: float


@dataclass(frozen=True)
class UrlResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class BadFunctionResponse(Exception):
    """The function returned something a URL cannot answer with."""


def url_event(request: UrlRequest) -> dict[str, Any]:
    headers = _joined(request.headers)
    cookie_header = headers.pop("cookie", None)
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": request.path,
        "rawQueryString": request.raw_query,
    }
    if cookie_header:
        event["cookies"] = [c.strip() for c in cookie_header.split(";") if c.strip()]
    event["headers"] = headers
    query = _joined(parse_qsl(request.raw_query, keep_blank_values=True))
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = {
        "accountId": request.account_id,
        "apiId": request.url_id,
        "domainName": request.domain_name,
        "domainPrefix": request.url_id,
        "http": {
            "method": request.method,
            "path": request.path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request.request_id,
        "routeKey": "$default",
        "stage": "$default",
        "time": _clf_time(request.time_s),
        "timeEpoch": int(request.time_s * 1000),
    }
    if request.body:
        text = _as_text(request.body, headers.get("content-type", ""))
        event["body"] = text if text is not None else base64.b64encode(request.body).decode()
        event["isBase64Encoded"] = text is None
    else:
        event["isBase64Encoded"] = False
    return event


def url_response(payload: bytes) -> UrlResponse:
    try:
        result = json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadFunctionResponse(f"the result is not JSON: {exc}") from exc
    if not isinstance(result, dict) or "statusCode" not in result:
        return UrlResponse(200, [("content-type", "application/json")], payload)
    status = _status(result["statusCode"])
    headers = _response_headers(result.get("headers")) + _cookies(result.get("cookies"))
    if not any(name == "content-type" for name, _ in headers):
        headers.append(("content-type", "application/json"))
    return UrlResponse(status, headers, _response_body(result))


def url_prelude(raw: bytes) -> tuple[int, list[tuple[str, str]]]:
    """A streamed response's prelude, `{"statusCode", "headers", "cookies"}`: the
    status (200 when absent) and headers (without a type: a byte stream)."""
    try:
        prelude = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise BadFunctionResponse(f"the prelude is not JSON: {exc}") from exc
    if not isinstance(prelude, dict):
        raise BadFunctionResponse("the prelude is not a JSON object")
    status = _status(prelude.get("statusCode", 200))
    headers = _response_headers(prelude.get("headers")) + _cookies(prelude.get("cookies"))
    if not any(name == "content-type" for name, _ in headers):
        headers.append(("content-type", "application/octet-stream"))
    return status, headers


def _status(status: object) -> int:
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise BadFunctionResponse(f"statusCode {status!r} is not an HTTP status")
    return status


def _cookies(value: object) -> list[tuple[str, str]]:
    cookies = value or []
    if not isinstance(cookies, list) or not all(isinstance(c, str) for c in cookies):
        raise BadFunctionResponse("cookies must be a list of strings")
    return [("set-cookie", _header_value(c)) for c in cookies]


def _response_headers(value: object) -> list[tuple[str, str]]:
    if value is None:
        return []
    if not isinstance(value, dict):
        raise BadFunctionResponse("headers must be an object")
    headers = []
    for name, item in value.items():
        if isinstance(item, (dict, list)):
            raise BadFunctionResponse(f"header {name!r} must be a string")
        text = item if isinstance(item, str) else json.dumps(item)
        headers.append((_header_value(str(name)).lower(), _header_value(text)))
    return headers


def _response_body(result: dict[str, Any]) -> bytes:
    body = result.get("body")
    if body is None:
        return b""
    if not isinstance(body, str):
        # AWS sends a non-string body as its JSON.
        return json.dumps(body).encode()
    if result.get("isBase64Encoded") is True:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadFunctionResponse("body is not valid base64") from exc
    return body.encode()


def _header_value(value: str) -> str:
    """No header splitting: a CR or LF from the function never reaches the wire."""
    if "\r" in value or "\n" in value or "\0" in value:
        raise BadFunctionResponse("a header contains a line break")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise BadFunctionResponse("a header is not ISO-8859-1 text") from exc
    return value


def _joined(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Repeated names as one comma-joined value, as payload format 2.0 has them."""
    joined: dict[str, str] = {}
    for name, value in pairs:
        joined[name] = f"{joined[name]},{value}" if name in joined else value
    return joined


def _as_text(body: bytes, content_type: str) -> str | None:
    media_type = content_type.split(";", 1)[0].strip().lower()
    textual = (
        media_type.startswith("text/")
        or media_type in TEXT_MEDIA_TYPES
        or media_type.endswith(TEXT_SUFFIXES)
    )
    if not textual:
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None  # declared text, but not UTF-8: base64 keeps every byte


def _clf_time(seconds: float) -> str:
    """`12/Mar/2020:19:03:58 +0000`, the requestContext.time format."""
    return time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(seconds))
