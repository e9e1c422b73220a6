"""Scheduled rules through boto3, on a server whose schedule clock runs 60 times faster
than real time (a minute a second): the Scheduled Event reaches the rule's targets on
every tick, a disabled rule stops, and a restart fires no tick twice."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from support.lambda_calls import allow_events, error_of, new_function, unique
from support.lambda_calls import function_arn as arn
from support.marks import needs_sandbox
from support.server import ACCOUNT_ID, REGION, LambdadServer, boto3_client, http_auth
from support.waiting import wait_until
from support.zips import make_zip

pytestmark = [pytest.mark.compat, *needs_sandbox]

RECORDER = """
import json

def handler(event, context):
    print("EVENT " + json.dumps(event, sort_keys=True))
"""
SPEED = 60


class FastServer:
    """A server (restartable on its data dir) whose schedule clock runs SPEED times fast."""

    def __init__(self, data_dir: Path, database_url: str | None) -> None:
        self.env = {
            "LAMBDAD_SCHEDULE_CLOCK_SPEED": str(SPEED),
            "LAMBDAD_SCHEDULE_CLOCK_EPOCH": str(time.time()),
        }
        self.data_dir = data_dir
        self.database_url = database_url
        self.server = LambdadServer(data_dir, database_url, env=self.env).start()

    def clock(self) -> float:
        """The server's schedule clock now (as `server.schedule_clock` computes it)."""
        epoch = float(self.env["LAMBDAD_SCHEDULE_CLOCK_EPOCH"])
        return epoch + (time.time() - epoch) * SPEED

    def restart(self) -> None:
        self.server.stop()
        self.server = LambdadServer(self.data_dir, self.database_url, env=self.env).start()

    def clients(self) -> tuple[Any, Any]:
        url = self.server.url
        return boto3_client(url), boto3_client(url, service="events")

    def recorded(self, function: str) -> list[dict[str, Any]]:
        answer = httpx.get(
            f"{self.server.url}/_lambdad/functions/{function}/logs",
            timeout=10,
            auth=http_auth(self.server.url),
        )
        answer.raise_for_status()
        lines = [e["message"] for e in answer.json()["events"]]
        return [json.loads(m.split("EVENT ", 1)[1]) for m in lines if "EVENT " in m]

    def wait_for(self, function: str, count: int, resource: str) -> list[dict[str, Any]]:
        """The events of `resource` (a rule ARN) once `function` has logged `count` of them."""

        def enough() -> list[dict[str, Any]] | None:
            found = [e for e in self.recorded(function) if e.get("resources") == [resource]]
            return found if len(found) >= count else None

        return wait_until(enough, f"{count} scheduled events of {resource}")


@pytest.fixture
def fast(tmp_path: Path, own_database_url: str | None) -> Iterator[FastServer]:
    server = FastServer(tmp_path / "data", own_database_url)
    try:
        yield server
    finally:
        server.server.stop()


def clock_time(event: dict[str, Any]) -> float:
    return datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%S%z").timestamp()


def scheduled_rule(lam: Any, events: Any, function: str, expression: str) -> str:
    name = unique("tick")
    rule_arn: str = events.put_rule(Name=name, ScheduleExpression=expression)["RuleArn"]
    allow_events(lam, function, rule_arn)
    events.put_targets(Rule=name, Targets=[{"Id": "recorder", "Arn": arn(function)}])
    return rule_arn


def test_ticks_send_the_scheduled_event_and_a_disabled_rule_stops(fast: FastServer) -> None:
    lam, events = fast.clients()
    function = new_function(lam, "ticks", code=make_zip({"app.py": RECORDER}))
    minutely = scheduled_rule(lam, events, function, "rate(1 minute)")
    cron = scheduled_rule(lam, events, function, "cron(* * * * ? *)")

    ticks = fast.wait_for(function, 3, minutely)
    first = ticks[0]
    assert {k: v for k, v in first.items() if k not in ("id", "time")} == {
        "version": "0",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "region": REGION,
        "resources": [minutely],
        "detail": {},
    }
    assert len({e["id"] for e in ticks}) == len(ticks)
    times = sorted(clock_time(e) for e in ticks)
    assert all(later - earlier >= 59 for earlier, later in zip(times, times[1:], strict=False))
    assert all(clock_time(e) % 60 == 0 for e in fast.wait_for(function, 2, cron))  # on minutes

    name = minutely.rsplit("/", 1)[1]
    events.disable_rule(Name=name)
    disabled_at = fast.clock()
    seen_cron = len(fast.wait_for(function, 1, cron))
    fast.wait_for(function, seen_cron + 3, cron)  # three more minutes of the other rule
    # Judged by each tick's scheduled time, not by how many arrived: ticks fired before
    # the disable may still be on their way (asynchronous invokes on a busy host). One due
    # within the minute of the disable may have been under way when it landed.
    stopped = fast.wait_for(function, 1, minutely)
    assert max(clock_time(e) for e in stopped) <= disabled_at + 60
    events.enable_rule(Name=name)
    wait_until(
        lambda: any(clock_time(e) > disabled_at + 60 for e in fast.wait_for(function, 1, minutely)),
        "a tick of the enabled rule again",
    )


def test_a_restart_fires_no_tick_twice(fast: FastServer) -> None:
    lam, events = fast.clients()
    function = new_function(lam, "restart", code=make_zip({"app.py": RECORDER}))
    rule_arn = scheduled_rule(lam, events, function, "rate(1 minute)")
    fast.wait_for(function, 2, rule_arn)
    fast.restart()
    before = len(fast.wait_for(function, 1, rule_arn))
    ticks = fast.wait_for(function, before + 3, rule_arn)
    assert len({e["id"] for e in ticks}) == len(ticks)
    assert len({e["time"] for e in ticks}) == len(ticks)  # no tick delivered twice


@pytest.mark.parametrize(
    "expression", ["cron(0 12 * * * *)", "at(2030-01-01T00:00:00)", "rate(0 minutes)"]
)
def test_invalid_schedule_expressions(server: LambdadServer, expression: str) -> None:
    events = boto3_client(server.url, service="events")
    with pytest.raises(ClientError) as exc:
        events.put_rule(Name=unique("bad"), ScheduleExpression=expression)
    assert error_of(exc) == (
        "ValidationException",
        "Parameter ScheduleExpression is not valid.",
        400,
    )
