"""The region of a request: the one in its SigV4 credential scope.

boto3 and the AWS CLI sign every request; the scope of the signature names
the region the client was configured for:

    Authorization: AWS4-HMAC-SHA256 Credential=AKID/20240101/eu-west-1/lambda/aws4_request, ...

(or, presigned, `X-Amz-Credential=AKID/20240101/eu-west-1/lambda/aws4_request` in
the query; the service in the scope is `scheduler` for EventBridge Scheduler's
requests, and any service's scope names the region the same way). ARNs, log
groups and environments follow that region, so one
server holds functions of several regions side by side. An unsigned request,
or one whose scope names no region of AWS's form, is in the server's default
region (`--region`).
"""

from __future__ import annotations

import re

from starlette.requests import Request

from lambdad.api.asgi_headers import header
from lambdad.catalog.names import REGION_PATTERN

_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/(?P<region>[^/,\s]+)/[a-z0-9-]+/aws4_request")
_REGION = re.compile(REGION_PATTERN)


def request_region(request: Request, default: str) -> str:
    scope = header(request.scope, b"authorization") or ""
    # Most requests have no query at all: it is parsed only when there is one.
    if request.scope.get("query_string"):
        credential = request.query_params.get("X-Amz-Credential")
        if credential:
            scope = f"Credential={credential}"
    match = _SCOPE.search(scope)
    if match is None:
        return default
    region = match.group("region")
    return region if _REGION.fullmatch(region) else default
