"""What an Invoke asks for and what it gets back, with Lambda's input rules."""

from __future__ import annotations

import base64
import binascii
import json
import os
import time
from dataclasses import dataclass

from lambdad.errors import InvalidParameterValue, InvalidRequestContent, RequestTooLarge

MAX_SYNC_PAYLOAD = 6 * 1024 * 1024
MAX_ASYNC_PAYLOAD = 256 * 1024
MAX_CLIENT_CONTEXT = 3583


@dataclass(frozen=True)
class InvokeResult:
    """The outcome of a synchronous invoke, free of HTTP; `api/` maps it to headers."""

    payload: bytes
    function_error: str | None
    executed_version: str
    log_tail: bytes | None
    request_id: str
    streamed: bool = False
    """The response went to the invocation's `ResponseStream` as it came."""
    error_type: str | None = None
    """The error's type when the invocation failed (Runtime.ExitError, a handler's)."""


def check_payload(payload: bytes, limit: int) -> bytes:
    """The event bytes to hand the function, or AWS's error for them."""
    if len(payload) > limit:
        raise RequestTooLarge(
            f"Request must be smaller than {limit} bytes for the InvokeFunction operation"
        )
    if not payload.strip():
        return b"{}"
    try:
        json.loads(payload)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        # RecursionError: nested deeper than the decoder's limit (~1000, as AWS's).
        raise InvalidRequestContent(
            f"Could not parse request body into json: Could not parse payload into json: {exc}"
        ) from exc
    return payload


def check_client_context(value: str | None) -> str | None:
    if value is None:
        return None
    if len(value) > MAX_CLIENT_CONTEXT:
        raise InvalidParameterValue(
            f"Client context must be at most {MAX_CLIENT_CONTEXT} bytes long"
        )
    try:
        json.loads(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError, RecursionError) as exc:
        raise InvalidRequestContent(
            "Client context must be a valid Base64-encoded JSON object."
        ) from exc
    return value


def new_trace_root(now: float | None = None) -> str:
    """A new trace for an invocation whose caller sent none: `Root=1-<epoch hex>-<96
    bits>`, with no sampling decision yet (the invoker makes it, then adds Parent and
    Sampled before the function sees the header)."""
    epoch = int(time.time() if now is None else now)
    return f"Root=1-{epoch:08x}-{os.urandom(12).hex()}"


def new_trace_id(now: float | None = None) -> str:
    """An X-Ray trace header: Root=1-<epoch hex>-<96 bits>;Parent=<64 bits>;Sampled=0."""
    epoch = int(time.time() if now is None else now)
    random = os.urandom(20).hex()  # one system call for both ids
    return f"Root=1-{epoch:08x}-{random[:24]};Parent={random[24:]};Sampled=0"
