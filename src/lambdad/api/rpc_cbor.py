"""Smithy RPC v2 CBOR: `POST /service/<ServiceName>/operation/<Operation>`, CBOR bodies.

It is the first protocol botocore's `cloudwatch` model declares, so it is what
boto3 and the AWS CLI send to CloudWatch by default. Timestamps travel as CBOR
tag 1 (epoch seconds). Errors are the operation's status with a body
`{"__type": "<Shape>", "message": "..."}`; CloudWatch is awsQueryCompatible, so
the code the SDKs show goes in `x-amzn-query-error: <Code>;Sender`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import cbor2
from starlette.requests import Request
from starlette.responses import Response

from lambdad.api import cloudwatch
from lambdad.api.access import authorize
from lambdad.api.bodies import read_body
from lambdad.api.context import ApiContext
from lambdad.errors import LambdadError
from lambdad.telemetry.errors import MetricValidationError

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/cbor"
MAX_BODY = 1024 * 1024


@dataclass(frozen=True)
class CborService:
    operations: Mapping[str, cloudwatch.Operation]
    iam_service: str
    internal_error: tuple[str, str]
    """The service's own failure: (shape name, query code)."""


SERVICES: Mapping[str, CborService] = {
    "GraniteServiceVersion20100801": CborService(
        cloudwatch.OPERATIONS, "cloudwatch", ("InternalServiceFault", "InternalServiceError")
    ),
}


async def dispatch(request: Request) -> Response:
    service = SERVICES.get(request.path_params["Service"])
    name = request.path_params["Operation"]
    operation = None if service is None else service.operations.get(name)
    if service is None or operation is None:
        return error("UnknownOperationException", "UnknownOperation", 404, f"Unknown {name}")
    try:
        await authorize(request, f"{service.iam_service}:{name}", ["*"])
        # application/cbor: not JSON, and not a type a browser sends cross-site unasked.
        body = await read_body(request, MAX_BODY, name, raw=True)
        params = decode(body)
        result = await operation(ApiContext.of(request), params)
    except LambdadError as exc:
        if exc.status >= 500:
            return error(*service.internal_error, 500, exc.message)
        query_code = getattr(exc, "query_code", exc.code)
        return error(exc.code, query_code, exc.status, exc.message)
    except Exception:
        log.exception("%s: unexpected error", name)
        return error(*service.internal_error, 500, "An internal error occurred.")
    return Response(encode(result), media_type=MEDIA_TYPE, headers=_HEADERS)


_HEADERS = {"smithy-protocol": "rpc-v2-cbor"}


def decode(body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    try:
        value = cbor2.loads(body)
    except Exception as exc:  # the decoder's errors, RecursionError, bad tags: all refused
        raise MetricValidationError("The request body is not valid CBOR.") from exc
    if not isinstance(value, dict):
        raise MetricValidationError("The request body must be a CBOR map.")
    return value


def encode(value: Any) -> bytes:
    return bytes(cbor2.dumps(value, datetime_as_timestamp=True, timezone=UTC))


def error(code: str, query_code: str, status: int, message: str) -> Response:
    headers = {**_HEADERS, "x-amzn-query-error": f"{query_code};Sender"}
    if status >= 500:
        headers["x-amzn-query-error"] = f"{query_code};Receiver"
    body = encode({"__type": code, "message": message})
    return Response(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)
