"""Destination records: AWS's invocation record, as the destination function's event."""

from __future__ import annotations

import json

from lambdad.invoke.async_retry import Condition, Done
from lambdad.invoke.destinations import destination_record, follow_up, iso_timestamp, response_of
from lambdad.invoke.requests import MAX_ASYNC_PAYLOAD
from lambdad.store import AsyncEventRow

ARN = "arn:aws:lambda:us-east-1:000000000000:function:fn:$LATEST"
FAILURES = "arn:aws:lambda:us-east-1:000000000000:function:failures"


def finished(condition: Condition, destination: str | None, response: object) -> Done:
    event = AsyncEventRow(
        id="req-1",
        region="us-east-1",
        function_name="fn",
        qualifier="$LATEST",
        payload=b'{"order": 7}',
        attempts=3,
        enqueued_at=0.0,
        next_attempt_at=0.0,
        trace_id="Root=1-abc",
        last_response=response,  # type: ignore[arg-type]
    )
    return Done(event, condition, destination)


def test_the_record_of_an_event_whose_retries_ran_out() -> None:
    response = response_of(200, "$LATEST", "Unhandled", b'{"errorMessage": "boom"}')
    record = destination_record(
        finished(Condition.RETRIES_EXHAUSTED, FAILURES, response), ARN, now=1573755365.568
    )
    assert record == {
        "version": "1.0",
        "timestamp": "2019-11-14T18:16:05.568Z",
        "requestContext": {
            "requestId": "req-1",
            "functionArn": ARN,
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        },
        "requestPayload": {"order": 7},
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "responsePayload": {"errorMessage": "boom"},
    }


def test_a_success_record_has_no_function_error() -> None:
    response = response_of(200, "3", None, b'"fine"')
    record = destination_record(finished(Condition.SUCCESS, None, response), ARN, now=0.0)
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "3"}
    assert record["responsePayload"] == "fine"


def test_an_event_that_never_ran_has_no_response() -> None:
    record = destination_record(finished(Condition.EVENT_AGE_EXCEEDED, None, None), ARN, now=0.0)
    assert "responseContext" not in record and "responsePayload" not in record


def test_a_huge_response_is_left_out_of_the_record() -> None:
    response = response_of(200, "$LATEST", None, b'"' + b"x" * MAX_ASYNC_PAYLOAD + b'"')
    assert "payload" not in response


def test_follow_up_is_an_event_for_the_destination_function() -> None:
    done = finished(Condition.RETRIES_EXHAUSTED, f"{FAILURES}:live", None)
    event = follow_up(done, ARN, now=5.0)
    assert event is not None
    assert (event.function_name, event.qualifier, event.attempts) == ("failures", "live", 0)
    assert event.next_attempt_at == 5.0 and event.trace_id == "Root=1-abc"
    assert json.loads(event.payload)["requestContext"]["requestId"] == "req-1"
    assert follow_up(finished(Condition.SUCCESS, None, None), ARN, now=5.0) is None


def test_timestamps_are_utc_with_milliseconds() -> None:
    assert iso_timestamp(0.5) == "1970-01-01T00:00:00.500Z"
