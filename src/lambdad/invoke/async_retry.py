"""What happens to an async event after an attempt: Lambda's retry rules, as a plan.

    function error      attempts + 1; retried after 1 x base, then 2 x base (Lambda:
                        1 and 2 minutes) while attempts <= MaximumRetryAttempts,
                        else done with RetriesExhausted (OnFailure)
    success             done with Success (OnSuccess)
    throttled / platform  waits and tries again without using up an attempt, backing
    error               off 1 s, 2 s, 4 s, ... up to 5 minutes (Lambda's 429 / 5xx rule)
    refused for good    done with RetriesExhausted (OnFailure), no retry (e.g. a loop stopped)
    too old             done with EventAgeExceeded (OnFailure), checked before each try

`plan_*` are pure: the queue runs the plan they return (plan, then execute).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Any

from lambdad.catalog import EventInvokeConfig
from lambdad.store import AsyncEventRow

THROTTLE_FIRST_DELAY_S = 1.0


class Outcome(enum.Enum):
    SUCCESS = "success"
    FUNCTION_ERROR = "function error"
    WAIT = "throttled"
    """Refused before the function ran (concurrency, the platform): not an attempt."""
    GONE = "gone"
    """The function (or its version) no longer exists."""
    REFUSED = "refused"
    """Refused for good before it ran (a recursive loop stopped, a bad request): no retry."""


class Condition(enum.StrEnum):
    """AWS's requestContext.condition in a destination record."""

    SUCCESS = "Success"
    RETRIES_EXHAUSTED = "RetriesExhausted"
    EVENT_AGE_EXCEEDED = "EventAgeExceeded"


@dataclass(frozen=True)
class AttemptResult:
    outcome: Outcome
    response: dict[str, Any] | None = None
    """responseContext fields plus "payload", when the function ran."""


@dataclass(frozen=True)
class RetryTimes:
    retry_base_s: float
    """The wait before the first retry after a function error (Lambda: 60 s)."""
    throttle_max_delay_s: float
    """The longest wait of a throttled event (Lambda: 5 minutes)."""
    max_event_age_cap_s: float
    """The server's ceiling on any event's age (Lambda: 6 hours)."""


@dataclass(frozen=True)
class Retry:
    event: AsyncEventRow
    """The event with its new counts and next attempt time."""


@dataclass(frozen=True)
class Done:
    event: AsyncEventRow
    condition: Condition
    destination: str | None


@dataclass(frozen=True)
class Drop:
    reason: str


Step = Retry | Done | Drop


def max_age_s(config: EventInvokeConfig, times: RetryTimes) -> float:
    return min(float(config.max_event_age_s), times.max_event_age_cap_s)


def plan_before(
    event: AsyncEventRow, config: EventInvokeConfig, times: RetryTimes, now: float
) -> Done | None:
    """Done with EventAgeExceeded if the event is too old to try, else None (try it)."""
    if now - event.enqueued_at < max_age_s(config, times):
        return None
    return Done(event, Condition.EVENT_AGE_EXCEEDED, config.on_failure)


def plan_after(
    event: AsyncEventRow,
    result: AttemptResult,
    config: EventInvokeConfig,
    times: RetryTimes,
    now: float,
) -> Step:
    if result.outcome is Outcome.GONE:
        return Drop("the function no longer exists")
    if result.outcome is Outcome.WAIT:
        throttles = event.throttles + 1
        delay = min(
            THROTTLE_FIRST_DELAY_S * 2 ** min(throttles - 1, 30), times.throttle_max_delay_s
        )
        return Retry(replace(event, throttles=throttles, next_attempt_at=now + delay))
    if result.outcome is Outcome.REFUSED:
        refused = replace(event, last_response=result.response)
        return Done(refused, Condition.RETRIES_EXHAUSTED, config.on_failure)
    attempted = replace(event, attempts=event.attempts + 1, last_response=result.response)
    if result.outcome is Outcome.SUCCESS:
        return Done(attempted, Condition.SUCCESS, config.on_success)
    if attempted.attempts > config.retries:
        return Done(attempted, Condition.RETRIES_EXHAUSTED, config.on_failure)
    # Never later than the moment the event ages out, so that it is reported then.
    retry_at = min(
        now + times.retry_base_s * attempted.attempts,
        event.enqueued_at + max_age_s(config, times),
    )
    return Retry(replace(attempted, next_attempt_at=retry_at))
