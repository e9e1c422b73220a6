"""Request headers read straight from the ASGI scope, on the hot path.

Starlette's `request.headers.get(name)` builds a `Headers` object, then scans
the raw list for each name (and raises and catches a KeyError for each one
that is missing): four headers of an Invoke cost more than its signature
check. These read the raw list (names as the server delivers them:
lower-case) once, with Starlette's answer: the first value of a repeated
name, decoded as latin-1.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import Scope


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of header `name` (lower-case), as `request.headers.get` has it."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def first_headers(scope: Scope, names: Iterable[bytes]) -> dict[bytes, str]:
    """The first value of each of `names` the request has, in one pass."""
    wanted = frozenset(names)
    found: dict[bytes, str] = {}
    for key, value in scope.get("headers", ()):
        if key in wanted and key not in found:
            found[key] = bytes(value).decode("latin-1")
    return found


def declared_length(scope: Scope) -> int:
    """The Content-Length the request declares; 0 without one (or a malformed one)."""
    declared = header(scope, b"content-length") or ""
    return int(declared) if declared.isdigit() else 0
