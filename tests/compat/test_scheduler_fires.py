"""Schedules fire their function on a live server: a rate schedule bounded by start
and end fires once per tick, a one-time schedule fires once and deletes itself, and a
server killed mid-schedule fires no tick twice after its restart.

The server's schedule clock runs `SPEED` times faster than real time (a minute in
two seconds), from an epoch the test also uses for StartDate/EndDate; functions
report each tick in their log (the tick's scheduled time and id, from Scheduler's
context attributes), which the test reads with bounded polls.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from botocore.exceptions import ClientError

from support.marks import needs_sandbox
from support.server import ROLE, SCHEDULER_ROLE, LambdadServer, boto3_client, http_auth
from support.waiting import wait_until
from support.zips import make_zip

pytestmark = [pytest.mark.compat, *needs_sandbox]

SPEED = 30.0
TICK_HANDLER = """
import json

def handler(event, context):
    print("TICK " + json.dumps(event))
    return event
"""
INPUT = json.dumps(
    {"at": "<aws.scheduler.scheduled-time>", "id": "<aws.scheduler.execution-id>", "fixed": 1}
)
OFF = {"Mode": "OFF"}


class Clock:
    """The server's schedule clock, computed as the server computes it."""

    def __init__(self) -> None:
        self.epoch = time.time()

    def now(self) -> float:
        return self.epoch + (time.time() - self.epoch) * SPEED

    def env(self) -> dict[str, str]:
        return {
            "LAMBDAD_SCHEDULE_CLOCK_EPOCH": repr(self.epoch),
            "LAMBDAD_SCHEDULE_CLOCK_SPEED": repr(SPEED),
        }


def a_server(data_dir: Path, database_url: str | None, clock: Clock) -> LambdadServer:
    """A server (not started yet) on the schedule clock `clock`."""
    return LambdadServer(data_dir, database_url, args=["--sandbox", "bwrap"], env=clock.env())


def deploy(server: LambdadServer, name: str) -> str:
    client = boto3_client(server.url)
    arn: str = client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": TICK_HANDLER})},
    )["FunctionArn"]
    client.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 400}
    )
    return arn


def ticks(server: LambdadServer, function: str) -> list[dict[str, Any]]:
    """The events the function logged, in order."""
    answer = httpx.get(
        f"{server.url}/_lambdad/functions/{function}/logs",
        params={"limit": 10000},
        auth=http_auth(server.url),
        timeout=10,
    )
    answer.raise_for_status()
    return [
        json.loads(e["message"].split("TICK ", 1)[1])
        for e in answer.json()["events"]
        if "TICK " in e["message"]
    ]


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def schedule_gone(scheduler: Any, name: str) -> bool:
    try:
        scheduler.get_schedule(Name=name)
    except ClientError as exc:
        return bool(exc.response["Error"]["Code"] == "ResourceNotFoundException")
    return False


def test_a_bounded_rate_schedule_fires_once_per_tick(
    tmp_path: Path, own_database_url: str | None
) -> None:
    clock = Clock()
    with a_server(tmp_path / "data", own_database_url, clock) as server:
        arn = deploy(server, "ticking")
        scheduler = boto3_client(server.url, service="scheduler")
        start = float(int(clock.now()) + 60)
        scheduler.create_schedule(
            Name="three-ticks",
            ScheduleExpression="rate(1 minute)",
            StartDate=datetime.fromtimestamp(start, UTC),
            EndDate=datetime.fromtimestamp(start + 180, UTC),
            FlexibleTimeWindow=OFF,
            Target={"Arn": arn, "RoleArn": SCHEDULER_ROLE, "Input": INPUT},
            ActionAfterCompletion="DELETE",
        )
        # The third tick is the last (the end is exclusive): then the schedule deletes itself.
        wait_until(lambda: schedule_gone(scheduler, "three-ticks"), "the schedule to complete")
        wait_until(lambda: len(ticks(server, "ticking")) >= 3, "three ticks in the function's log")
        seen = ticks(server, "ticking")
        assert sorted(t["at"] for t in seen) == [iso(start), iso(start + 60), iso(start + 120)]
        assert len({t["id"] for t in seen}) == 3
        assert all(t["fixed"] == 1 for t in seen)


def test_a_one_time_schedule_fires_once_in_its_time_zone(
    tmp_path: Path, own_database_url: str | None
) -> None:
    clock = Clock()
    with a_server(tmp_path / "data", own_database_url, clock) as server:
        arn = deploy(server, "once")
        scheduler = boto3_client(server.url, service="scheduler")
        due = float(int(clock.now()) + 90)
        zone = "Asia/Tokyo"
        local = datetime.fromtimestamp(due, ZoneInfo(zone)).replace(tzinfo=None)
        scheduler.create_schedule(
            Name="once",
            ScheduleExpression=f"at({local.isoformat(timespec='seconds')})",
            ScheduleExpressionTimezone=zone,
            FlexibleTimeWindow=OFF,
            Target={"Arn": f"{arn}:$LATEST", "RoleArn": SCHEDULER_ROLE},
            ActionAfterCompletion="DELETE",
        )
        wait_until(lambda: schedule_gone(scheduler, "once"), "the one-time schedule to fire")
        seen = wait_until(lambda: ticks(server, "once"), "the function to run")
        assert seen == [{}]  # no Input: the event is {} as on AWS


def test_a_restart_fires_no_tick_twice(tmp_path: Path, own_database_url: str | None) -> None:
    clock = Clock()
    data_dir = tmp_path / "data"
    server = a_server(data_dir, own_database_url, clock).start()
    try:
        arn = deploy(server, "steady")
        scheduler = boto3_client(server.url, service="scheduler")
        scheduler.create_schedule(
            Name="every-minute",
            ScheduleExpression="rate(1 minute)",
            FlexibleTimeWindow=OFF,
            Target={"Arn": arn, "RoleArn": SCHEDULER_ROLE, "Input": INPUT},
        )
        wait_until(lambda: len(ticks(server, "steady")) >= 3, "three ticks before the kill")
    finally:
        assert server.process is not None
        server.process.kill()  # SIGKILL: whatever was claimed stays as it was
        server.process.wait(timeout=30)
        server.stop()

    with a_server(data_dir, own_database_url, clock) as restarted:
        scheduler = boto3_client(restarted.url, service="scheduler")
        before = len(ticks(restarted, "steady"))
        wait_until(
            lambda: len(ticks(restarted, "steady")) >= before + 3, "three ticks after the restart"
        )
        scheduler.delete_schedule(Name="every-minute")
        seen = ticks(restarted, "steady")
    # One execution id per tick: a tick claimed twice would have two. (The same id twice
    # is the async queue running again an invocation the kill cut short: at least once,
    # as Lambda's asynchronous invocation is.)
    ids_per_tick: dict[str, set[str]] = {}
    for tick in seen:
        ids_per_tick.setdefault(tick["at"], set()).add(tick["id"])
    assert all(len(ids) == 1 for ids in ids_per_tick.values()), (
        f"a tick fired twice: {ids_per_tick}"
    )
    stamps = sorted(datetime.strptime(t, "%Y-%m-%dT%H:%M:%SZ").timestamp() for t in ids_per_tick)
    # Every tick is on the schedule's minute grid; of the ticks missed while the server
    # was down only the most recent fired.
    assert all((b - a) % 60 == 0 for a, b in zip(stamps, stamps[1:], strict=False))
