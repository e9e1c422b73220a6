"""Destination records: what an OnSuccess / OnFailure function receives.

The record is AWS's invocation record (version "1.0"), delivered as an
asynchronous invoke of the destination function: an event of its own in the
durable queue, written in the same commit that retires the source event.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

from lambdad.invoke.async_retry import Done
from lambdad.invoke.requests import MAX_ASYNC_PAYLOAD
from lambdad.store import AsyncEventRow

_FUNCTION_ARN = re.compile(
    r"arn:aws[a-zA-Z0-9-]*:lambda:(?P<region>[a-z0-9-]+):\d{12}:function:"
    r"(?P<name>[a-zA-Z0-9-_]+)"
    r"(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9-_]+))?"
)


def iso_timestamp(epoch: float) -> str:
    """2019-11-14T18:16:05.568Z"""
    millis = int(epoch * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{millis:03d}Z"


def destination_record(done: Done, function_arn: str, now: float) -> dict[str, Any]:
    """The record for a finished event; `function_arn` is the qualified ARN it was sent to."""
    event = done.event
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": iso_timestamp(now),
        "requestContext": {
            "requestId": event.id,
            "functionArn": function_arn,
            "condition": done.condition.value,
            "approximateInvokeCount": event.attempts,
        },
        "requestPayload": _json_or_text(event.payload),
    }
    response = event.last_response
    if response is not None:
        context = {k: v for k, v in response.items() if k != "payload" and v is not None}
        record["responseContext"] = context
        if "payload" in response:
            record["responsePayload"] = response["payload"]
    return record


def response_of(
    status_code: int, executed_version: str, error: str | None, payload: bytes
) -> dict[str, Any]:
    """What an attempt leaves for the record: responseContext fields and the payload."""
    response: dict[str, Any] = {
        "statusCode": status_code,
        "executedVersion": executed_version,
        "functionError": error,
    }
    # A record is itself an async event: keep it under the async payload limit.
    if len(payload) <= MAX_ASYNC_PAYLOAD // 2:
        response["payload"] = _json_or_text(payload)
    return response


def follow_up(done: Done, function_arn: str, now: float) -> AsyncEventRow | None:
    """The destination function's event for a finished event, if it has a destination."""
    if done.destination is None:
        return None
    match = _FUNCTION_ARN.fullmatch(done.destination)
    if match is None:
        return None  # configuration refuses anything else; rows from elsewhere are not ours
    record = destination_record(done, function_arn, now)
    return AsyncEventRow(
        id=str(uuid.uuid4()),
        region=match.group("region"),
        function_name=match.group("name"),
        qualifier=match.group("qualifier") or "$LATEST",
        payload=json.dumps(record).encode(),
        attempts=0,
        enqueued_at=now,
        next_attempt_at=now,
        trace_id=done.event.trace_id,
    )


def _json_or_text(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return data.decode("utf-8", "replace")
