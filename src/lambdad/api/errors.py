"""The one boundary where errors become HTTP: AWS's status, header and body.

`LambdadError` subclasses carry their AWS name and status; anything else is a
bug, logged with its traceback and sent as `ServiceException` 500.
"""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import Response

from lambdad.errors import LambdadError, TooManyRequests

log = logging.getLogger(__name__)

JSON = "application/json"
# Errors whose AWS body spells the text "Message" (ResourceNotFoundException's does);
# "message" is always sent too, which is what every SDK reads first.
CAPITALIZED_MESSAGE = frozenset({"ResourceNotFoundException"})


def error_response(
    code: str, status: int, message: str, extra: dict[str, str] | None = None
) -> Response:
    from lambdad.api.shapes import encode

    body: dict[str, str] = {"Type": "User" if status < 500 else "Service", "message": message}
    if code in CAPITALIZED_MESSAGE:
        body["Message"] = message
    body.update(extra or {})
    return Response(
        encode(body), status_code=status, media_type=JSON, headers={"x-amzn-ErrorType": code}
    )


def lambdad_error_response(exc: LambdadError) -> Response:
    extra = {"Reason": exc.reason} if isinstance(exc, TooManyRequests) else None
    return error_response(exc.code, exc.status, exc.message, extra)


async def handle_lambdad_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LambdadError)
    return lambdad_error_response(exc)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    log.error("%s %s: unexpected error", request.method, request.url.path, exc_info=exc)
    return error_response("ServiceException", 500, "An internal error occurred.")
