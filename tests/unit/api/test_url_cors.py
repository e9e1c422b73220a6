"""A function URL's Cors config applied to preflights and responses."""

from __future__ import annotations

from lambdad.api.url_cors import is_preflight, preflight_headers, response_headers
from lambdad.catalog import Cors

ORIGIN = "https://app.example"
PREFLIGHT = {"origin": ORIGIN, "access-control-request-method": "PUT"}


def test_preflight_needs_origin_and_requested_method() -> None:
    assert is_preflight("OPTIONS", PREFLIGHT)
    assert not is_preflight("OPTIONS", {"origin": ORIGIN})
    assert not is_preflight("GET", PREFLIGHT)


def test_an_allowed_origin_gets_the_configured_answer() -> None:
    cors = Cors(
        allow_origins=(ORIGIN,),
        allow_methods=("GET", "PUT"),
        allow_headers=("x-a",),
        max_age=10,
        allow_credentials=True,
    )
    assert dict(preflight_headers(cors, PREFLIGHT)) == {
        "access-control-allow-origin": ORIGIN,
        "vary": "Origin",
        "access-control-allow-credentials": "true",
        "access-control-allow-methods": "GET, PUT",
        "access-control-allow-headers": "x-a",
        "access-control-max-age": "10",
    }


def test_an_unlisted_origin_gets_no_cors_headers() -> None:
    cors = Cors(allow_origins=("https://other.example",), allow_methods=("*",))
    assert preflight_headers(cors, PREFLIGHT) == [("vary", "Origin")]
    headers = response_headers(cors, {"origin": ORIGIN}, [("x", "1")])
    assert headers == [("x", "1")]


def test_wildcards_answer_what_was_asked() -> None:
    cors = Cors(allow_origins=("*",), allow_methods=("*",), allow_headers=("*",))
    asked = {**PREFLIGHT, "access-control-request-headers": "x-b"}
    assert dict(preflight_headers(cors, asked)) == {
        "access-control-allow-origin": "*",
        "access-control-allow-methods": "PUT",
        "access-control-allow-headers": "x-b",
    }
    with_credentials = Cors(allow_origins=("*",), allow_credentials=True)
    assert (
        dict(preflight_headers(with_credentials, PREFLIGHT))["access-control-allow-origin"]
        == ORIGIN
    )


def test_the_configs_headers_replace_the_functions() -> None:
    cors = Cors(allow_origins=(ORIGIN,), expose_headers=("x-out", "x-two"))
    function = [("access-control-allow-origin", "*"), ("x-out", "1")]
    assert response_headers(cors, {"origin": ORIGIN}, function) == [
        ("x-out", "1"),
        ("access-control-allow-origin", ORIGIN),
        ("vary", "Origin"),
        ("access-control-expose-headers", "x-out, x-two"),
    ]
