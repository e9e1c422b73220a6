"""Lambda's retry rules for async events, as pure plans."""

from __future__ import annotations

import dataclasses

from lambdad.catalog import EventInvokeConfig
from lambdad.invoke.async_retry import (
    AttemptResult,
    Condition,
    Done,
    Drop,
    Outcome,
    Retry,
    RetryTimes,
    plan_after,
    plan_before,
)
from lambdad.store import AsyncEventRow

LAMBDA = RetryTimes(retry_base_s=60.0, throttle_max_delay_s=300.0, max_event_age_cap_s=21600.0)
FAILURE = "arn:aws:lambda:us-east-1:000000000000:function:failures"
SUCCESS = "arn:aws:lambda:us-east-1:000000000000:function:successes"
ERROR = AttemptResult(Outcome.FUNCTION_ERROR, {"statusCode": 200, "functionError": "Unhandled"})
OK = AttemptResult(Outcome.SUCCESS, {"statusCode": 200, "payload": {"ok": True}})


def event(**changes: object) -> AsyncEventRow:
    row = AsyncEventRow(
        id="e1",
        region="us-east-1",
        function_name="fn",
        qualifier="$LATEST",
        payload=b"{}",
        attempts=0,
        enqueued_at=1000.0,
        next_attempt_at=1000.0,
        trace_id=None,
    )
    return dataclasses.replace(row, **changes)  # type: ignore[arg-type]


def config(**changes: object) -> EventInvokeConfig:
    base = EventInvokeConfig("fn", "$LATEST", on_success=SUCCESS, on_failure=FAILURE)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_function_errors_retry_after_one_then_two_minutes_then_exhaust() -> None:
    first = plan_after(event(), ERROR, config(), LAMBDA, now=1001.0)
    assert isinstance(first, Retry)
    assert first.event.attempts == 1
    assert first.event.next_attempt_at == 1061.0
    assert first.event.last_response == ERROR.response

    second = plan_after(first.event, ERROR, config(), LAMBDA, now=1062.0)
    assert isinstance(second, Retry)
    assert second.event.next_attempt_at == 1062.0 + 120.0

    third = plan_after(second.event, ERROR, config(), LAMBDA, now=1183.0)
    assert third == Done(
        dataclasses.replace(second.event, attempts=3), Condition.RETRIES_EXHAUSTED, FAILURE
    )


def test_maximum_retry_attempts_zero_sends_the_first_failure_on() -> None:
    step = plan_after(event(), ERROR, config(maximum_retry_attempts=0), LAMBDA, now=1001.0)
    assert isinstance(step, Done)
    assert (step.condition, step.destination, step.event.attempts) == (
        Condition.RETRIES_EXHAUSTED,
        FAILURE,
        1,
    )


def test_success_goes_to_on_success() -> None:
    step = plan_after(event(attempts=1), OK, config(), LAMBDA, now=1001.0)
    assert step == Done(event(attempts=2, last_response=OK.response), Condition.SUCCESS, SUCCESS)


def test_throttles_wait_longer_each_time_without_using_attempts() -> None:
    waits = []
    current = event(attempts=1)
    now = 1000.0
    for _ in range(12):
        step = plan_after(current, AttemptResult(Outcome.WAIT), config(), LAMBDA, now=now)
        assert isinstance(step, Retry)
        waits.append(step.event.next_attempt_at - now)
        current = step.event
        now = current.next_attempt_at
    assert current.attempts == 1
    assert current.throttles == 12
    assert waits[:4] == [1.0, 2.0, 4.0, 8.0]
    assert max(waits) == 300.0


def test_a_gone_function_drops_the_event() -> None:
    step = plan_after(event(), AttemptResult(Outcome.GONE), config(), LAMBDA, now=1001.0)
    assert isinstance(step, Drop)


def test_events_age_out_before_a_try() -> None:
    fresh = plan_before(event(), config(maximum_event_age_s=60), LAMBDA, now=1059.0)
    assert fresh is None
    old = plan_before(event(attempts=1), config(maximum_event_age_s=60), LAMBDA, now=1060.0)
    assert old is not None
    assert (old.condition, old.destination) == (Condition.EVENT_AGE_EXCEEDED, FAILURE)
    # The server's cap applies when it is lower than the function's setting.
    capped = dataclasses.replace(LAMBDA, max_event_age_cap_s=5.0)
    assert plan_before(event(), config(), capped, now=1005.0) is not None


def test_a_retry_never_waits_past_the_moment_the_event_ages_out() -> None:
    step = plan_after(event(), ERROR, config(maximum_event_age_s=60), LAMBDA, now=1030.0)
    assert isinstance(step, Retry)
    assert step.event.next_attempt_at == 1060.0


def test_an_event_refused_for_good_goes_to_on_failure_without_an_attempt() -> None:
    refused = AttemptResult(Outcome.REFUSED, {"statusCode": 400, "payload": {"errorType": "X"}})
    step = plan_after(event(), refused, config(), LAMBDA, now=1001.0)
    assert step == Done(event(last_response=refused.response), Condition.RETRIES_EXHAUSTED, FAILURE)
