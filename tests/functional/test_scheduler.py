"""The Scheduler service on a real database with a fake clock: schedules arm timers,
ticks queue the target's async invocation (idempotently, with Scheduler's context
attributes), one-time schedules delete themselves, and a missing function or an
execution role that may not invoke the target is not retried."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, cast

import pytest
import sqlalchemy as sa

from lambdad.catalog import Account
from lambdad.errors import ResourceNotFound, ValidationError
from lambdad.events import (
    RetryPolicy,
    ScheduleConfig,
    ScheduleConflict,
    ScheduleGroupNotFound,
    ScheduleNotFound,
    Scheduler,
    ScheduleTarget,
    Ticker,
)
from lambdad.events.scheduler import OWNER_KIND
from lambdad.store import ScheduleStore, TimerStore

pytestmark = pytest.mark.anyio

T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC).timestamp()
REGION, ACCOUNT = "us-east-1", "000000000000"
FUNCTION = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:worker"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/scheduler"
LOGS_ONLY_ROLE = f"arn:aws:iam::{ACCOUNT}:role/logs-only"


async def role_may_invoke(role_arn: str, function_arn: str) -> bool:
    """The roles' policies: ROLE may invoke the account's functions, no other role may."""
    return role_arn == ROLE and function_arn.startswith(FUNCTION)


class FakeClock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class FakeInvoker:
    def __init__(self, functions: set[str]) -> None:
        self.functions = functions

    def in_region(self, _region: str) -> FakeInvoker:
        return self

    async def resolve(self, name: str, qualifier: str | None) -> None:
        if name not in self.functions:
            raise ResourceNotFound(f"Function not found: {name}")


@dataclass
class Queued:
    function_name: str
    qualifier: str
    payload: bytes
    request_id: str | None


class FakeQueue:
    def __init__(self) -> None:
        self.queued: list[Queued] = []

    async def enqueue(
        self,
        region: str,
        function_name: str,
        qualifier: str,
        payload: bytes,
        trace_id: str | None,
        request_id: str | None = None,
    ) -> str:
        self.queued.append(Queued(function_name, qualifier, payload, request_id))
        return request_id or "id"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def queue() -> FakeQueue:
    return FakeQueue()


@pytest.fixture
def ticker(engine: sa.Engine, clock: FakeClock) -> Ticker:
    return Ticker(TimerStore(engine), clock)


@pytest.fixture
def scheduler(engine: sa.Engine, ticker: Ticker, queue: FakeQueue, clock: FakeClock) -> Scheduler:
    return Scheduler(
        Account(REGION, ACCOUNT),
        ScheduleStore(engine),
        ticker,
        cast(Any, FakeInvoker({"worker"})),
        cast(Any, queue),
        role_may_invoke,
        clock=clock,
    )


def config(expression: str = "rate(1 hour)", **changes: Any) -> ScheduleConfig:
    return replace(ScheduleConfig(expression, ScheduleTarget(FUNCTION, ROLE)), **changes)


async def test_a_tick_queues_the_target_with_its_input(
    scheduler: Scheduler, ticker: Ticker, queue: FakeQueue, clock: FakeClock
) -> None:
    target = ScheduleTarget(
        f"{FUNCTION}:live",
        ROLE,
        input='{"at": "<aws.scheduler.scheduled-time>", "n": "<aws.scheduler.attempt-number>", '
        '"arn": "<aws.scheduler.schedule-arn>", "id": "<aws.scheduler.execution-id>"}',
    )
    await scheduler.create("hourly", None, config(target=target))
    assert await ticker.tick() == 1
    [queued] = queue.queued
    assert (queued.function_name, queued.qualifier) == ("worker", "live")
    arn = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/default/hourly"
    assert queued.payload.decode() == (
        f'{{"at": "2027-01-04T09:00:00Z", "n": "1", "arn": "{arn}", "id": "{queued.request_id}"}}'
    )
    clock.now += 3600
    await ticker.tick()
    assert len(queue.queued) == 2
    assert queue.queued[1].payload  # a new tick, a new id
    assert queue.queued[1].request_id != queued.request_id


async def test_no_input_is_an_empty_object(
    scheduler: Scheduler, ticker: Ticker, queue: FakeQueue
) -> None:
    await scheduler.create("bare", None, config())
    await ticker.tick()
    assert [q.payload for q in queue.queued] == [b"{}"]
    assert queue.queued[0].qualifier == "$LATEST"


async def test_the_timer_follows_the_schedule(
    scheduler: Scheduler, engine: sa.Engine, clock: FakeClock
) -> None:
    timers = TimerStore(engine)
    await scheduler.create(
        "flex",
        None,
        config(
            "cron(0 12 * * ? *)",
            timezone="Europe/Paris",
            window_mode="FLEXIBLE",
            window_minutes=10,
            target=ScheduleTarget(FUNCTION, ROLE, retry_policy=RetryPolicy(600, 3)),
        ),
    )
    timer = timers.get(OWNER_KIND, f"{REGION}/default/flex")
    assert timer is not None
    assert timer.next_tick_at == T0 + 2 * 3600  # 12:00 in Paris is 11:00 UTC in winter
    assert (timer.window_s, timer.grace_s, timer.retry_attempts) == (600, 600.0, 3)
    assert timer.next_fire_at is not None and T0 + 7200 <= timer.next_fire_at < T0 + 7800

    await scheduler.update("flex", "default", config("rate(1 day)", state="DISABLED"))
    timer = timers.get(OWNER_KIND, f"{REGION}/default/flex")
    assert timer is not None and timer.next_tick_at is None

    await scheduler.delete("flex", None)
    assert timers.get(OWNER_KIND, f"{REGION}/default/flex") is None


async def test_a_one_time_schedule_deletes_itself_after_firing(
    scheduler: Scheduler, ticker: Ticker, queue: FakeQueue, clock: FakeClock
) -> None:
    await scheduler.create(
        "once", None, config("at(2027-01-04T10:00:00)", action_after_completion="DELETE")
    )
    await scheduler.create("kept", None, config("at(2027-01-04T10:00:00)"))
    clock.now = T0 + 3600
    assert await ticker.tick() == 2
    assert len(queue.queued) == 2
    with pytest.raises(ScheduleNotFound):
        await scheduler.get("once", None)
    assert (await scheduler.get("kept", None)).config.expression.startswith("at(")


async def test_a_missing_function_is_not_retried(
    scheduler: Scheduler, ticker: Ticker, queue: FakeQueue, clock: FakeClock, engine: sa.Engine
) -> None:
    gone = ScheduleTarget(f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:gone", ROLE)
    await scheduler.create("orphan", None, config(target=gone))
    assert await ticker.tick() == 1
    clock.now += 60
    assert await ticker.tick() == 0
    assert queue.queued == []
    assert TimerStore(engine).pending_fires(OWNER_KIND, f"{REGION}/default/orphan") == []


async def test_a_role_that_may_not_invoke_the_target_is_not_retried(
    scheduler: Scheduler, ticker: Ticker, queue: FakeQueue, clock: FakeClock, engine: sa.Engine
) -> None:
    await scheduler.create(
        "no-rights", None, config(target=ScheduleTarget(FUNCTION, LOGS_ONLY_ROLE))
    )
    await scheduler.create("allowed", None, config(target=ScheduleTarget(FUNCTION, ROLE)))
    assert await ticker.tick() == 2
    assert [q.function_name for q in queue.queued] == ["worker"]  # the allowed one's tick
    clock.now += 60
    assert await ticker.tick() == 0
    assert len(queue.queued) == 1
    assert TimerStore(engine).pending_fires(OWNER_KIND, f"{REGION}/default/no-rights") == []


async def test_resume_arms_a_schedule_whose_timer_is_missing(
    scheduler: Scheduler, engine: sa.Engine
) -> None:
    await scheduler.create("lost-timer", None, config())
    timers = TimerStore(engine)
    timers.remove(OWNER_KIND, f"{REGION}/default/lost-timer")
    await scheduler.resume()
    assert timers.get(OWNER_KIND, f"{REGION}/default/lost-timer") is not None


async def test_groups(scheduler: Scheduler, engine: sa.Engine) -> None:
    await scheduler.create_group("team", {"k": "v"})
    with pytest.raises(ScheduleConflict, match="Schedule group team already exists."):
        await scheduler.create_group("team", {})
    await scheduler.create("a", "team", config())
    with pytest.raises(ScheduleConflict, match="Schedule a already exists."):
        await scheduler.create("a", "team", config())
    await scheduler.create("a", None, config())  # another group, another name space
    await scheduler.delete_group("team")
    with pytest.raises(ScheduleGroupNotFound):
        await scheduler.get("a", "team")
    assert TimerStore(engine).get(OWNER_KIND, f"{REGION}/team/a") is None
    assert TimerStore(engine).get(OWNER_KIND, f"{REGION}/default/a") is not None


async def test_an_sdk_retry_of_create_is_not_a_conflict(scheduler: Scheduler) -> None:
    first = await scheduler.create("retried", None, config(client_token="token-1"))
    again = await scheduler.create("retried", None, config(client_token="token-1"))
    assert again.arn == first.arn
    with pytest.raises(ScheduleConflict):
        await scheduler.create("retried", None, config(client_token="token-2"))


async def test_only_lambda_targets_of_this_region(scheduler: Scheduler) -> None:
    for arn in (
        "arn:aws:sqs:us-east-1:000000000000:queue",
        f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:worker",
        "arn:aws:lambda:us-east-1:111111111111:function:worker",
    ):
        with pytest.raises(ValidationError, match="Invalid target ARN"):
            await scheduler.create("x", None, config(target=ScheduleTarget(arn, ROLE)))
