"""Triggers invoke a function only when AWS would let them: the event bus (PutEvents
and scheduled rules) through the function's resource policy (AddPermission for
events.amazonaws.com, its SourceArn), a Scheduler schedule through its execution role.

A refused delivery is decided, and logged, before PutEvents answers or when the tick
fires; it is never queued, so the function's log staying empty is certain once the
server's log shows the refusal (no waiting for something not to happen).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from support.lambda_calls import allow_events, new_function, unique
from support.lambda_calls import function_arn as arn
from support.marks import needs_sandbox
from support.server import ROLE, SCHEDULER_ROLE, LambdadServer, boto3_client, http_auth
from support.waiting import wait_until
from support.zips import make_zip

pytestmark = [pytest.mark.compat, *needs_sandbox]

RECORDER = """
import json

def handler(event, context):
    print("EVENT " + json.dumps(event, sort_keys=True))
"""
SPEED = 60  # the schedules' clock: a minute a second


@pytest.fixture(scope="module")
def fast(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LambdadServer]:
    env = {
        "LAMBDAD_SCHEDULE_CLOCK_SPEED": str(SPEED),
        "LAMBDAD_SCHEDULE_CLOCK_EPOCH": str(time.time()),
    }
    with LambdadServer(tmp_path_factory.mktemp("triggers") / "data", env=env) as server:
        yield server


def recorded(server: LambdadServer, function: str) -> list[Any]:
    answer = httpx.get(
        f"{server.url}/_lambdad/functions/{function}/logs", timeout=10, auth=http_auth(server.url)
    )
    answer.raise_for_status()
    lines = [e["message"] for e in answer.json()["events"]]
    return [json.loads(m.split("EVENT ", 1)[1]) for m in lines if "EVENT " in m]


def refused(server: LambdadServer, text: str) -> bool:
    return text in server.full_log()


def recorders(lam: Any, *prefixes: str) -> list[str]:
    return [new_function(lam, p, code=make_zip({"app.py": RECORDER})) for p in prefixes]


def test_an_event_reaches_only_functions_whose_policy_allows_its_rule(
    fast: LambdadServer,
) -> None:
    lam, events = boto3_client(fast.url), boto3_client(fast.url, service="events")
    allowed, missing, elsewhere = recorders(lam, "allowed", "no-permission", "other-rule")
    rule = unique("orders")
    rule_arn = events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["my.app"]}))[
        "RuleArn"
    ]
    allow_events(lam, allowed, rule_arn)
    allow_events(lam, elsewhere, f"{rule_arn}-not-this-one")  # a SourceArn that does not match
    targets = [{"Id": f"t{i}", "Arn": arn(f)} for i, f in enumerate([allowed, missing, elsewhere])]
    assert events.put_targets(Rule=rule, Targets=targets)["FailedEntryCount"] == 0
    answer = events.put_events(Entries=[{"Source": "my.app", "DetailType": "t", "Detail": "{}"}])
    assert answer["FailedEntryCount"] == 0
    event_id = answer["Entries"][0]["EventId"]

    seen = wait_until(lambda: recorded(fast, allowed), "the allowed function to run")
    assert [e["id"] for e in seen] == [event_id]
    for function in (missing, elsewhere):
        refusal = f"not delivered to {arn(function)}"
        wait_until(lambda: refused(fast, refusal), "the refusal")  # noqa: B023
        assert recorded(fast, function) == []


def test_a_scheduled_rule_needs_the_permission_too(fast: LambdadServer) -> None:
    lam, events = boto3_client(fast.url), boto3_client(fast.url, service="events")
    allowed, elsewhere = recorders(lam, "tick-allowed", "tick-other")
    rule = unique("ticks")
    rule_arn = events.put_rule(Name=rule, ScheduleExpression="rate(1 minute)")["RuleArn"]
    allow_events(lam, allowed, rule_arn)
    allow_events(lam, elsewhere, f"{rule_arn}-not-this-one")
    targets = [{"Id": "a", "Arn": arn(allowed)}, {"Id": "b", "Arn": arn(elsewhere)}]
    events.put_targets(Rule=rule, Targets=targets)

    ticks = wait_until(lambda: recorded(fast, allowed), "a tick of the rule")
    assert ticks[0]["resources"] == [rule_arn]
    wait_until(lambda: refused(fast, f"not delivered to {arn(elsewhere)}"), "the refusal")
    events.delete_rule(Name=rule, Force=True)
    assert recorded(fast, elsewhere) == []


def test_a_schedule_invokes_as_its_execution_role(fast: LambdadServer) -> None:
    lam, scheduler = boto3_client(fast.url), boto3_client(fast.url, service="scheduler")
    allowed, denied = recorders(lam, "role-allowed", "role-denied")
    window = {"Mode": "OFF"}
    for function, role in ((allowed, SCHEDULER_ROLE), (denied, ROLE)):  # ROLE: logs only
        scheduler.create_schedule(
            Name=f"every-minute-{function}",
            ScheduleExpression="rate(1 minute)",
            FlexibleTimeWindow=window,
            Target={"Arn": arn(function), "RoleArn": role, "Input": '{"tick": true}'},
        )
    assert wait_until(lambda: recorded(fast, allowed), "a tick of the allowed schedule")
    denial = (
        f"AccessDeniedException: the execution role {ROLE} is not authorized to perform "
        f"lambda:InvokeFunction on {arn(denied)}"
    )
    wait_until(lambda: refused(fast, denial), "the schedule's tick to be refused")
    for function in (allowed, denied):
        scheduler.delete_schedule(Name=f"every-minute-{function}")
    assert recorded(fast, denied) == []
