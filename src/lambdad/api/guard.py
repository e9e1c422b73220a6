"""Which callers the API serves while requests are not authenticated.

Any web page the operator visits can make their browser send requests to a
server on their machine. Until requests are signed and checked, the API tells
a browser's request apart and refuses it:

- **Host.** A request is served only when its Host is a name this server
  answers for: the loopback names, the address it listens on, and the public
  names it is configured with (`--public-host`, `LAMBDAD_PUBLIC_HOSTS`). That
  defeats DNS rebinding: a page on `evil.example` whose name is rebound to
  127.0.0.1 still sends `Host: evil.example`. An IP address as Host cannot be
  rebound, so on a wildcard listen address (0.0.0.0, ::) any IP address is
  served; names still have to be configured.
- **Cross-origin.** A browser says where a request comes from: `Origin` (on
  every cross-origin POST, PUT, DELETE) and `Sec-Fetch-Site`. A request from
  another site, or from another origin of the same site (another port on
  localhost), is refused.
- **Function URLs** (`<url-id>.lambda-url.<region>.localhost`) are meant for
  browsers and answer their own CORS configuration: their requests skip the
  cross-origin checks and never reach the management API (a function's own
  page must not be same-origin with it). They go to the `function_urls` app;
  until functions have URLs, that is `no_function_url`. The path-based form
  (`/lambda-url/<url-id>/...` on the server's own names) is for clients that
  cannot set a host name: its Host is checked like the API's, the
  cross-origin checks are the URL's CORS configuration's.

The content type a body must have is checked where bodies are read
(`api/bodies.py`). Refusals are `AccessDeniedException` 403, like AWS's.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from lambdad.api.errors import error_response

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARD_ADDRESSES = frozenset({"", "0.0.0.0", "::"})
FUNCTION_URL_HOST = re.compile(r"^[a-z0-9]+\.lambda-url\.[a-z0-9-]+\.localhost$")
FUNCTION_URL_PATH = "/lambda-url/"
CROSS_ORIGIN_SITES = frozenset({"cross-site", "same-site"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


class HostNames:
    """The Host names a server answers for (see the module doc)."""

    def __init__(self, listen_address: str, public_names: Iterable[str] = ()) -> None:
        self.any_address = listen_address in WILDCARD_ADDRESSES
        self.names = LOOPBACK_NAMES | {_normalize(n) for n in public_names if n.strip()}
        if not self.any_address:
            self.names |= {_normalize(listen_address)}

    def serves(self, host: str) -> bool:
        if host in self.names:
            return True
        return self.any_address and _is_ip_address(host)


def is_function_url_host(host: str) -> bool:
    return FUNCTION_URL_HOST.match(host) is not None


async def no_function_url(scope: Scope, receive: Receive, send: Send) -> None:
    """The function URL app while no function has a URL."""
    response = error_response("ResourceNotFoundException", 404, "The function URL does not exist.")
    await response(scope, receive, send)


class RequestGuard:
    """ASGI middleware: refuses what the module doc describes, before routing."""

    def __init__(
        self, app: ASGIApp, hosts: HostNames, function_urls: ASGIApp = no_function_url
    ) -> None:
        self.app = app
        self.hosts = hosts
        self.function_urls = function_urls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        host_header = headers.get("host", "")
        host = _host_name(host_header)
        if is_function_url_host(host):
            await self.function_urls(scope, receive, send)
            return
        if self.hosts.serves(host) and scope["path"].startswith(FUNCTION_URL_PATH):
            await self.function_urls(scope, receive, send)
            return
        refusal = self._refusal(host, host_header, headers)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        response = error_response("AccessDeniedException", 403, refusal)
        await response(scope, receive, send)

    def _refusal(self, host: str, host_header: str, headers: dict[str, str]) -> str | None:
        if not self.hosts.serves(host):
            return (
                f"Host '{host_header}' is not a name this server answers for; "
                "start it with --public-host NAME (LAMBDAD_PUBLIC_HOSTS) to answer for NAME"
            )
        site = headers.get("sec-fetch-site", "").lower()
        origin = headers.get("origin")
        if site in CROSS_ORIGIN_SITES or (
            origin is not None and not _same_origin(origin, host_header)
        ):
            return (
                f"Cross-origin requests are refused (Origin {origin or '-'}, "
                f"Sec-Fetch-Site {site or '-'})"
            )
        return None


_GUARD_HEADERS = {b"host": "host", b"origin": "origin", b"sec-fetch-site": "sec-fetch-site"}


def _headers(scope: Scope) -> dict[str, str]:
    """The headers the guard reads (the last value of a repeated one), by lower-case name.
    (Lower-casing the raw name finds the same ones as lower-casing its latin-1 text:
    no letter beyond ASCII lower-cases to an ASCII one.)"""
    found = {}
    for key, value in scope.get("headers", []):
        name = _GUARD_HEADERS.get(bytes(key).lower())
        if name is not None:
            found[name] = bytes(value).decode("latin-1")
    return found


def _normalize(name: str) -> str:
    return name.strip().lower().rstrip(".").strip("[]")


@lru_cache(maxsize=256)  # a client sends the same Host with every request
def _host_name(host_header: str) -> str:
    """The name in a Host header, without its port: `[::1]:9000` is `::1`."""
    value = host_header.strip().lower()
    if value.startswith("["):
        return _normalize(value.split("]", 1)[0])
    return _normalize(value.rsplit(":", 1)[0] if value.count(":") == 1 else value)


def _same_origin(origin: str, host_header: str) -> bool:
    """Whether a browser's Origin is this very server (scheme aside: a proxy may add TLS)."""
    try:
        parts = urlsplit(origin)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return False
    if not parts.hostname:
        return False  # "null": a sandboxed page, a file, a redirect
    try:
        request = urlsplit(f"//{host_header}")
        request_port = request.port
    except ValueError:
        return False
    same_port = request_port in (port, None) if port in (80, 443) else request_port == port
    return _normalize(parts.hostname) == _host_name(host_header) and same_port


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
