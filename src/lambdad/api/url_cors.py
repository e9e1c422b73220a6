"""CORS for function URLs: the URL's Cors config decides, as AWS applies it.

With a Cors config, the server answers a preflight (`OPTIONS` with `Origin`
and `Access-Control-Request-Method`) itself, without invoking the function,
and sets the CORS headers of every response to an allowed origin (replacing
any the function set). Without one, requests and preflights go to the
function, which may answer CORS itself.
"""

from __future__ import annotations

from lambdad.catalog import Cors

CORS_HEADERS = frozenset(
    {
        "access-control-allow-origin",
        "access-control-allow-credentials",
        "access-control-allow-methods",
        "access-control-allow-headers",
        "access-control-expose-headers",
        "access-control-max-age",
    }
)


def is_preflight(method: str, headers: dict[str, str]) -> bool:
    return (
        method == "OPTIONS" and "origin" in headers and "access-control-request-method" in headers
    )


def preflight_headers(cors: Cors, headers: dict[str, str]) -> list[tuple[str, str]]:
    """The answer to a preflight: nothing allowed unless the origin is."""
    allowed = _origin_headers(cors, headers.get("origin", ""))
    if not allowed:
        return [("vary", "Origin")]
    requested_method = headers.get("access-control-request-method", "")
    requested_headers = headers.get("access-control-request-headers", "")
    methods = _wildcard_or(cors.allow_methods, requested_method)
    if methods:
        allowed.append(("access-control-allow-methods", methods))
    allow_headers = _wildcard_or(cors.allow_headers, requested_headers)
    if allow_headers:
        allowed.append(("access-control-allow-headers", allow_headers))
    if cors.max_age is not None:
        allowed.append(("access-control-max-age", str(cors.max_age)))
    return allowed


def response_headers(
    cors: Cors, request_headers: dict[str, str], function_headers: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """A function's response headers with the config's CORS headers in place of its own."""
    kept = [(n, v) for n, v in function_headers if n not in CORS_HEADERS]
    origin = request_headers.get("origin")
    if origin is None:
        return kept
    allowed = _origin_headers(cors, origin)
    if allowed and cors.expose_headers:
        allowed.append(("access-control-expose-headers", ", ".join(cors.expose_headers)))
    return [*kept, *allowed]


def _origin_headers(cors: Cors, origin: str) -> list[tuple[str, str]]:
    origins = cors.allow_origins or ()
    if not origin:
        return []
    if origin.lower() in (o.lower() for o in origins):
        headers = [("access-control-allow-origin", origin), ("vary", "Origin")]
    elif "*" in origins:
        # With credentials a browser rejects "*": the origin itself stands for it.
        value = origin if cors.allow_credentials else "*"
        headers = [("access-control-allow-origin", value)]
        if cors.allow_credentials:
            headers.append(("vary", "Origin"))
    else:
        return []
    if cors.allow_credentials:
        headers.append(("access-control-allow-credentials", "true"))
    return headers


def _wildcard_or(configured: tuple[str, ...] | None, requested: str) -> str:
    """The configured list; for "*", what the browser asked (also valid with credentials)."""
    if not configured:
        return ""
    if "*" in configured:
        return requested or "*"
    return ", ".join(configured)
