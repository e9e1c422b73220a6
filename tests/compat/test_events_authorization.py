"""EventBridge and Scheduler operations are authorized on the ARNs they act on (a rule,
a bus, a schedule in its group), and giving a target, schedule or function a role
needs iam:PassRole on it, as on AWS."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from support.identities import add_user
from support.lambda_calls import error_of, new_function, unique
from support.lambda_calls import function_arn as arn
from support.server import ACCOUNT_ID, REGION, ROLE, SCHEDULER_ROLE, LambdadServer, boto3_client

pytestmark = pytest.mark.compat

EVENTS = f"arn:aws:events:{REGION}:{ACCOUNT_ID}"


def policy(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action: str | list[str], resource: str | list[str]) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def denied(call: Any, **params: Any) -> str:
    with pytest.raises(ClientError) as exc:
        call(**params)
    code, message, _status = error_of(exc)
    assert code == "AccessDeniedException", message
    return message


def test_a_user_allowed_one_rule_manages_it_and_nothing_else(server: LambdadServer) -> None:
    admin = boto3_client(server.url, service="events")
    mine, theirs, bus = unique("mine"), unique("theirs"), unique("bus")
    admin.create_event_bus(Name=bus)
    admin.put_rule(Name=theirs, EventPattern=json.dumps({"source": ["x"]}))
    key = add_user(
        server,
        unique("ruler"),
        policy(
            allow("events:*", f"{EVENTS}:rule/{mine}"),
            allow("events:PutEvents", f"{EVENTS}:event-bus/{bus}"),
        ),
    )
    user = boto3_client(server.url, service="events", credentials=key)

    pattern = json.dumps({"source": ["my.app"]})
    assert user.put_rule(Name=mine, EventPattern=pattern)["RuleArn"] == f"{EVENTS}:rule/{mine}"
    assert user.describe_rule(Name=mine)["Name"] == mine
    user.disable_rule(Name=mine)
    user.enable_rule(Name=mine)
    assert user.list_targets_by_rule(Rule=mine)["Targets"] == []

    message = denied(user.describe_rule, Name=theirs)
    assert message.endswith(
        f"events:DescribeRule on resource: {EVENTS}:rule/{theirs} because no identity-based "
        "policy allows the events:DescribeRule action"
    )
    denied(user.put_rule, Name=theirs, EventPattern=pattern)
    denied(user.delete_rule, Name=theirs)
    target = [{"Id": "t", "Arn": arn("f")}]
    denied(user.put_targets, Rule=theirs, Targets=target)
    # The same name on another bus is another rule.
    assert f":rule/{bus}/{mine} " in denied(
        user.put_rule, Name=mine, EventBusName=bus, EventPattern=pattern
    )
    assert "events:ListRules on resource: * " in denied(user.list_rules)
    # PutEvents is decided on each bus its entries name.
    entry = {"Source": "my.app", "DetailType": "t", "Detail": "{}"}
    assert user.put_events(Entries=[{**entry, "EventBusName": bus}])["FailedEntryCount"] == 0
    assert ":event-bus/default " in denied(user.put_events, Entries=[entry])
    denied(user.put_events, Entries=[{**entry, "EventBusName": bus}, entry])
    assert f":event-bus/{bus} " in denied(user.delete_event_bus, Name=bus)
    user.delete_rule(Name=mine)
    admin.describe_rule(Name=theirs)  # untouched


def test_targets_schedules_and_functions_pass_their_role(
    server: LambdadServer, lambda_client: Any
) -> None:
    function = new_function(lambda_client, "passed")
    rule = unique("passing")
    key = add_user(
        server,
        unique("passer"),
        policy(
            allow("events:PutTargets", f"{EVENTS}:rule/{rule}"),
            allow(["scheduler:CreateSchedule", "scheduler:UpdateSchedule"], "*"),
            allow(["lambda:CreateFunction", "lambda:UpdateFunctionConfiguration"], "*"),
            {
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": SCHEDULER_ROLE,
                "Condition": {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}},
            },
        ),
    )
    boto3_client(server.url, service="events").put_rule(Name=rule, ScheduleExpression="rate(1 day)")
    events = boto3_client(server.url, service="events", credentials=key)
    scheduler = boto3_client(server.url, service="scheduler", credentials=key)
    lam = boto3_client(server.url, credentials=key)

    # A target with a role: iam:PassRole on it, for events.amazonaws.com.
    with_role = [{"Id": "t", "Arn": arn(function), "RoleArn": SCHEDULER_ROLE}]
    assert f"iam:PassRole on resource: {SCHEDULER_ROLE} " in denied(
        events.put_targets, Rule=rule, Targets=with_role
    )
    without = [{"Id": "t", "Arn": arn(function)}]
    assert events.put_targets(Rule=rule, Targets=without)["FailedEntryCount"] == 0

    # A schedule's execution role: allowed for the scheduler, and only that role.
    schedule = {
        "Name": unique("passing"),
        "ScheduleExpression": "rate(1 day)",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "State": "DISABLED",
    }
    scheduler.create_schedule(**schedule, Target={"Arn": arn(function), "RoleArn": SCHEDULER_ROLE})
    message = denied(
        scheduler.update_schedule, **schedule, Target={"Arn": arn(function), "RoleArn": ROLE}
    )
    assert f"iam:PassRole on resource: {ROLE} " in message

    # A function's Role (PassedToService lambda.amazonaws.com: not allowed here).
    assert f"iam:PassRole on resource: {ROLE} " in denied(
        lam.update_function_configuration, FunctionName=function, Role=ROLE
    )
    assert f"iam:PassRole on resource: {ROLE} " in denied(
        lam.create_function,
        FunctionName=unique("never"),
        Runtime="python3.12",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": b"PK"},
    )


def test_a_schedule_is_authorized_in_the_group_its_body_names(server: LambdadServer) -> None:
    admin = boto3_client(server.url, service="scheduler")
    group = unique("team")
    admin.create_schedule_group(Name=group)
    key = add_user(
        server,
        unique("grouped"),
        policy(
            allow(
                "scheduler:*",
                f"arn:aws:scheduler:{REGION}:{ACCOUNT_ID}:schedule/{group}/*",
            ),
            allow("iam:PassRole", SCHEDULER_ROLE),
        ),
    )
    scheduler = boto3_client(server.url, service="scheduler", credentials=key)
    schedule = {
        "Name": "nightly",
        "ScheduleExpression": "rate(1 day)",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "State": "DISABLED",
        "Target": {"Arn": arn("anything"), "RoleArn": SCHEDULER_ROLE},
    }
    assert (
        f"schedule/{group}/nightly"
        in scheduler.create_schedule(**schedule, GroupName=group)["ScheduleArn"]
    )
    assert "schedule/default/nightly " in denied(scheduler.create_schedule, **schedule)
    scheduler.update_schedule(**schedule, GroupName=group)
    scheduler.delete_schedule(Name="nightly", GroupName=group)
