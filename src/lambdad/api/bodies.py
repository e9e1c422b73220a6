"""Reading request bodies with a size limit, refused before it is all read."""

from __future__ import annotations

from starlette.requests import Request

from lambdad.errors import RequestTooLarge


def _too_large(limit: int, operation: str) -> RequestTooLarge:
    return RequestTooLarge(
        f"Request must be smaller than {limit} bytes for the {operation} operation"
    )


async def read_body(request: Request, limit: int, operation: str) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit, operation)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(limit, operation)
    return bytes(body)
