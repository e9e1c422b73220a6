"""The event bus through boto3's `events` client, on SQLite and PostgreSQL, as EventBridge answers.

Rules, targets and buses (their CRUD and errors), PutEvents' per-entry
results, and events reaching Lambda functions: the event envelope, Input,
InputPath, InputTransformer, a custom bus, an alias target.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from support.lambda_calls import allow_events, new_function, unique
from support.lambda_calls import error_of as error
from support.lambda_calls import function_arn as arn
from support.marks import needs_sandbox
from support.server import (
    ACCOUNT_ID,
    REGION,
    LambdadServer,
    boto3_client,
    http_auth,
    signed_get,
)
from support.waiting import wait_until
from support.zips import make_zip

pytestmark = pytest.mark.compat

RECORDER = """
import json

def handler(event, context):
    print("EVENT " + json.dumps(event, sort_keys=True))
    return "ok"
"""
PATTERN = json.dumps({"source": ["my.app"], "detail": {"kind": [{"prefix": "order"}]}})


@pytest.fixture(scope="module")
def events(server: LambdadServer) -> Any:
    return boto3_client(server.url, service="events")


def rule_arn(name: str, bus: str = "default") -> str:
    path = name if bus == "default" else f"{bus}/{name}"
    return f"arn:aws:events:{REGION}:{ACCOUNT_ID}:rule/{path}"


def bus_arn(name: str) -> str:
    return f"arn:aws:events:{REGION}:{ACCOUNT_ID}:event-bus/{name}"


def test_rule_crud(events: Any) -> None:
    name = unique("rule")
    put = events.put_rule(Name=name, EventPattern=PATTERN, Description="orders")
    assert put["RuleArn"] == rule_arn(name)
    described = events.describe_rule(Name=name)
    assert {k: v for k, v in described.items() if k != "ResponseMetadata"} == {
        "Name": name,
        "Arn": rule_arn(name),
        "EventPattern": PATTERN,
        "State": "ENABLED",
        "Description": "orders",
        "EventBusName": "default",
        "CreatedBy": ACCOUNT_ID,
    }
    events.disable_rule(Name=name)
    assert events.describe_rule(Name=name)["State"] == "DISABLED"
    events.enable_rule(Name=name)
    assert events.describe_rule(Name=name)["State"] == "ENABLED"

    # PutRule again replaces the settings; the ARN stays.
    again = events.put_rule(Name=name, EventPattern=PATTERN, State="DISABLED")
    assert again["RuleArn"] == put["RuleArn"]
    replaced = events.describe_rule(Name=name)
    assert replaced["State"] == "DISABLED" and "Description" not in replaced

    events.delete_rule(Name=name)
    with pytest.raises(ClientError) as exc:
        events.describe_rule(Name=name)
    assert error(exc) == (
        "ResourceNotFoundException",
        f"Rule {name} does not exist on EventBus default.",
        400,
    )
    events.delete_rule(Name=name)  # deleting what is gone succeeds, as AWS


def test_list_rules_by_prefix_with_paging(events: Any) -> None:
    prefix = unique("page")
    names = [f"{prefix}-{i}" for i in range(5)]
    for name in names:
        events.put_rule(Name=name, ScheduleExpression="rate(5 minutes)")
    events.put_rule(Name=f"{prefix.upper()}-other", EventPattern=PATTERN)  # prefixes are exact
    seen: list[str] = []
    token: dict[str, str] = {}
    while True:
        page = events.list_rules(NamePrefix=prefix, Limit=2, **token)
        assert len(page["Rules"]) <= 2
        seen += [r["Name"] for r in page["Rules"]]
        if "NextToken" not in page:
            break
        token = {"NextToken": page["NextToken"]}
    assert seen == names
    listed = events.list_rules(NamePrefix=prefix)["Rules"][0]
    assert listed["ScheduleExpression"] == "rate(5 minutes)"
    assert "CreatedBy" not in listed


@pytest.mark.parametrize(
    ("settings", "code", "message"),
    [
        (
            {"EventPattern": '{"source": "x"}'},
            "InvalidEventPatternException",
            'Event pattern is not valid. Reason: "source" must be an object or an array',
        ),
        (
            {"EventPattern": '{"n": [{"numeric": [">", 5, "<", 1]}]}'},
            "InvalidEventPatternException",
            "Event pattern is not valid. Reason: Bottom must be less than top",
        ),
        (
            {},
            "ValidationException",
            "Parameter(s) ScheduleExpression or EventPattern must be specified.",
        ),
        (
            {"ScheduleExpression": "every day"},
            "ValidationException",
            "Parameter ScheduleExpression is not valid.",
        ),
        (
            {"EventPattern": PATTERN, "EventBusName": "no-such-bus"},
            "ResourceNotFoundException",
            "Event bus no-such-bus does not exist.",
        ),
    ],
)
def test_put_rule_errors(events: Any, settings: dict[str, str], code: str, message: str) -> None:
    with pytest.raises(ClientError) as exc:
        events.put_rule(Name=unique("bad"), **settings)
    assert error(exc) == (code, message, 400)


def test_invalid_names_get_the_models_constraint(server: LambdadServer) -> None:
    raw = boto3_client(server.url, validate=False, service="events")
    with pytest.raises(ClientError) as exc:
        raw.put_rule(Name="has space", EventPattern=PATTERN)
    code, message, status = error(exc)
    assert (code, status) == ("ValidationException", 400)
    assert "Value 'has space' at 'name' failed to satisfy constraint" in message
    with pytest.raises(ClientError) as exc:
        raw.list_rules(Limit=101)
    assert "Member must have value less than or equal to 100" in error(exc)[1]


def test_targets_and_delete_rule_with_targets(events: Any) -> None:
    rule = unique("targets")
    events.put_rule(Name=rule, EventPattern=PATTERN)
    transformer = {
        "InputPathsMap": {"kind": "$.detail.kind"},
        "InputTemplate": '{"kind": <kind>}',
    }
    answer = events.put_targets(
        Rule=rule,
        Targets=[
            {"Id": "plain", "Arn": arn("f")},
            {"Id": "input", "Arn": arn("f", "live"), "Input": '{"fixed": true}'},
            {"Id": "path", "Arn": arn("f", "1"), "InputPath": "$.detail"},
            {"Id": "shaped", "Arn": arn("f"), "InputTransformer": transformer},
            {"Id": "queue", "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:q"},
            {"Id": "far", "Arn": arn("f", region="eu-west-1")},
        ],
    )
    assert answer["FailedEntryCount"] == 2
    assert [(f["TargetId"], f["ErrorCode"]) for f in answer["FailedEntries"]] == [
        ("queue", "ValidationException"),
        ("far", "ValidationException"),
    ]
    listed = events.list_targets_by_rule(Rule=rule)["Targets"]
    assert listed == [
        {"Id": "plain", "Arn": arn("f")},
        {"Id": "input", "Arn": arn("f", "live"), "Input": '{"fixed": true}'},
        {"Id": "path", "Arn": arn("f", "1"), "InputPath": "$.detail"},
        {"Id": "shaped", "Arn": arn("f"), "InputTransformer": transformer},
    ]
    paged = events.list_targets_by_rule(Rule=rule, Limit=3)
    rest = events.list_targets_by_rule(Rule=rule, NextToken=paged["NextToken"])
    assert [t["Id"] for t in paged["Targets"] + rest["Targets"]] == [t["Id"] for t in listed]

    with pytest.raises(ClientError) as exc:
        events.put_targets(
            Rule=rule,
            Targets=[{"Id": "two", "Arn": arn("f"), "Input": "{}", "InputPath": "$.detail"}],
        )
    assert error(exc) == (
        "ValidationException",
        "Only one of Input, InputPath, or InputTransformer must be provided.",
        400,
    )
    with pytest.raises(ClientError) as exc:
        events.put_targets(Rule=rule, Targets=[{"Id": "x", "Arn": "not-an-arn"}])
    assert error(exc)[0] == "ValidationException"
    with pytest.raises(ClientError) as exc:
        events.put_targets(Rule=rule, Targets=[{"Id": f"t{i}", "Arn": arn("f")} for i in range(2)])
    assert error(exc)[0] == "LimitExceededException"  # 4 + 2 over the 5 a rule may have

    other = unique("other")
    events.put_rule(Name=other, EventPattern=PATTERN)
    events.put_targets(Rule=other, Targets=[{"Id": "same", "Arn": arn("f")}])
    by_target = events.list_rule_names_by_target(TargetArn=arn("f"))["RuleNames"]
    assert sorted({rule, other} & set(by_target)) == sorted([rule, other])
    assert rule not in events.list_rule_names_by_target(TargetArn=arn("g"))["RuleNames"]
    events.remove_targets(Rule=other, Ids=["same"])
    events.delete_rule(Name=other)

    with pytest.raises(ClientError) as exc:
        events.delete_rule(Name=rule)
    assert error(exc) == ("ValidationException", "Rule can't be deleted since it has targets.", 400)
    removed = events.remove_targets(Rule=rule, Ids=["plain", "input"])
    assert removed["FailedEntryCount"] == 0
    assert [t["Id"] for t in events.list_targets_by_rule(Rule=rule)["Targets"]] == [
        "path",
        "shaped",
    ]
    events.delete_rule(Name=rule, Force=True)
    with pytest.raises(ClientError) as exc:
        events.list_targets_by_rule(Rule=rule)
    assert error(exc)[0] == "ResourceNotFoundException"


def test_event_buses(events: Any) -> None:
    name = unique("bus")
    created = events.create_event_bus(Name=name, Description="team bus")
    assert created["EventBusArn"] == bus_arn(name)
    described = events.describe_event_bus(Name=name)
    assert (described["Name"], described["Arn"], described["Description"]) == (
        name,
        bus_arn(name),
        "team bus",
    )
    assert events.describe_event_bus(Name=bus_arn(name))["Name"] == name
    assert events.describe_event_bus()["Name"] == "default"
    with pytest.raises(ClientError) as exc:
        events.create_event_bus(Name=name)
    assert error(exc) == (
        "ResourceAlreadyExistsException",
        f"Event bus {name} already exists.",
        400,
    )
    listed = events.list_event_buses(NamePrefix=name)["EventBuses"]
    assert [b["Name"] for b in listed] == [name]
    assert "default" in [b["Name"] for b in events.list_event_buses()["EventBuses"]]

    events.put_rule(Name="on-bus", EventBusName=name, EventPattern=PATTERN)
    assert events.describe_rule(Name="on-bus", EventBusName=name)["Arn"] == rule_arn("on-bus", name)
    with pytest.raises(ClientError) as exc:
        events.put_rule(Name="tick", EventBusName=name, ScheduleExpression="rate(1 minute)")
    assert error(exc) == (
        "ValidationException",
        "ScheduleExpression is supported only on the default event bus.",
        400,
    )
    with pytest.raises(ClientError) as exc:
        events.delete_event_bus(Name="default")
    assert error(exc) == ("ValidationException", "Cannot delete event bus default.", 400)
    events.delete_event_bus(Name=name)
    with pytest.raises(ClientError) as exc:
        events.describe_event_bus(Name=name)
    assert error(exc) == ("ResourceNotFoundException", f"Event bus {name} does not exist.", 400)
    with pytest.raises(ClientError) as exc:
        events.describe_rule(Name="on-bus", EventBusName=name)
    assert error(exc)[0] == "ResourceNotFoundException"


def test_put_events_ten_entries_two_malformed(events: Any) -> None:
    good = {"Source": "my.app", "DetailType": "order", "Detail": '{"kind": "order-placed"}'}
    entries = [dict(good) for _ in range(10)]
    entries[3] = {**good, "Detail": "not json"}
    entries[7] = {"DetailType": "order", "Detail": "{}"}
    answer = events.put_events(Entries=entries)
    assert answer["FailedEntryCount"] == 2
    results = answer["Entries"]
    assert len(results) == 10
    assert results[3] == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    assert results[7] == {
        "ErrorCode": "InvalidArgument",
        "ErrorMessage": "Parameter Source is not valid. Reason: Source is a required argument.",
    }
    ids = [r["EventId"] for i, r in enumerate(results) if i not in (3, 7)]
    assert len(set(ids)) == 8


def test_put_events_refusals(server: LambdadServer, events: Any) -> None:
    answer = events.put_events(
        Entries=[{"Source": "a", "DetailType": "b", "Detail": "{}", "EventBusName": "nope"}]
    )
    assert answer["Entries"][0]["ErrorCode"] == "ResourceNotFoundException"
    deep = '{"a":' * 3000 + "1" + "}" * 3000  # deeper than PutEvents' 1,100 levels
    answer = events.put_events(Entries=[{"Source": "a", "DetailType": "b", "Detail": deep}])
    assert answer["Entries"][0]["ErrorCode"] == "MalformedDetail"
    raw = boto3_client(server.url, validate=False, service="events")
    with pytest.raises(ClientError) as exc:
        raw.put_events(Entries=[{"Source": "a", "DetailType": "b", "Detail": "{}"}] * 11)
    assert error(exc)[0] == "ValidationException"
    big = json.dumps({"x": "y" * 200_000})
    with pytest.raises(ClientError) as exc:
        events.put_events(Entries=[{"Source": "a", "DetailType": "b", "Detail": big}] * 2)
    assert error(exc) == (
        "ValidationException",
        "Total size of the entries in the request is over the limit.",
        400,
    )


def test_unknown_operation(server: LambdadServer) -> None:
    answer = httpx.post(
        server.url,
        headers={
            "X-Amz-Target": "AWSEvents.NoSuchThing",
            "Content-Type": "application/x-amz-json-1.1",
        },
        content=b"{}",
        auth=http_auth(server.url, service="events"),
    )
    assert answer.status_code == 400
    assert answer.json()["__type"] == "UnknownOperationException"


# Deliveries to functions


def recorder(lambda_client: Any, publish: bool = False) -> str:
    return new_function(lambda_client, "recorder", publish, make_zip({"app.py": RECORDER}))


def recorded(server: LambdadServer, function: str, count: int = 1) -> list[Any]:
    """Wait (bounded) until `function` has logged `count` events; return them."""

    def events_seen() -> list[Any] | None:
        answer = httpx.get(
            f"{server.url}/_lambdad/functions/{function}/logs",
            timeout=10,
            auth=http_auth(server.url),
        )
        answer.raise_for_status()
        lines = [e["message"] for e in answer.json()["events"]]
        found = [json.loads(m.split("EVENT ", 1)[1]) for m in lines if "EVENT " in m]
        return found if len(found) >= count else None

    return wait_until(events_seen, f"{count} event(s) logged by {function}")


def put_order(events: Any, **extra: Any) -> str:
    answer = events.put_events(
        Entries=[
            {
                "Source": "my.app",
                "DetailType": "Order Placed",
                "Detail": json.dumps({"kind": "order-placed", "id": 42}),
                "Resources": ["arn:aws:s3:::bucket"],
                **extra,
            }
        ]
    )
    assert answer["FailedEntryCount"] == 0, answer
    event_id: str = answer["Entries"][0]["EventId"]
    return event_id


@needs_sandbox[0]
@needs_sandbox[1]
def test_matching_event_reaches_every_target(
    server: LambdadServer, lambda_client: Any, events: Any
) -> None:
    function = recorder(lambda_client, publish=True)
    lambda_client.create_alias(FunctionName=function, Name="live", FunctionVersion="1")
    rule = unique("orders")
    events.put_rule(Name=rule, EventPattern=PATTERN)
    ignored = unique("ignored")
    events.put_rule(Name=ignored, EventPattern=json.dumps({"source": ["other.app"]}))
    for qualifier in (None, "live", "1"):  # each target's own resource policy decides
        allow_events(lambda_client, function, rule_arn(rule), qualifier)
    transformer = {
        "InputPathsMap": {"kind": "$.detail.kind", "id": "$.detail.id"},
        "InputTemplate": '{"shaped": "order <id> is <kind>", "kind": <kind>, '
        '"rule": <aws.events.rule-name>}',
    }
    events.put_targets(
        Rule=rule,
        Targets=[
            {"Id": "whole", "Arn": arn(function)},
            {"Id": "fixed", "Arn": arn(function, "live"), "Input": '{"fixed": true}'},
            {"Id": "part", "Arn": arn(function, "1"), "InputPath": "$.detail"},
            {"Id": "shaped", "Arn": arn(function), "InputTransformer": transformer},
        ],
    )
    events.put_targets(Rule=ignored, Targets=[{"Id": "never", "Arn": arn(function)}])
    before = time.time()
    event_id = put_order(events)
    put_order(events, Source="other.source")  # matches no rule

    seen = recorded(server, function, count=4)
    assert len(seen) == 4
    envelope = next(e for e in seen if "version" in e)
    assert {k: v for k, v in envelope.items() if k != "time"} == {
        "version": "0",
        "id": event_id,
        "detail-type": "Order Placed",
        "source": "my.app",
        "account": ACCOUNT_ID,
        "region": REGION,
        "resources": ["arn:aws:s3:::bucket"],
        "detail": {"kind": "order-placed", "id": 42},
    }
    assert abs(time.mktime(time.strptime(envelope["time"], "%Y-%m-%dT%H:%M:%SZ")) - before) < 3600
    others = [e for e in seen if e is not envelope]
    assert {"fixed": True} in others
    assert {"kind": "order-placed", "id": 42} in others
    assert {"shaped": "order 42 is order-placed", "kind": "order-placed", "rule": rule} in others


@needs_sandbox[0]
@needs_sandbox[1]
def test_custom_bus_delivers_only_its_own_events(
    server: LambdadServer, lambda_client: Any, events: Any
) -> None:
    function = recorder(lambda_client)
    bus = unique("bus")
    events.create_event_bus(Name=bus)
    rule = unique("custom")
    events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps({"source": ["my.app"]}))
    allow_events(lambda_client, function)  # any rule (the disabled one must not deliver)
    events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "t", "Arn": arn(function)}])
    disabled = unique("disabled")
    events.put_rule(Name=disabled, EventBusName=bus, EventPattern=PATTERN, State="DISABLED")
    events.put_targets(Rule=disabled, EventBusName=bus, Targets=[{"Id": "t", "Arn": arn(function)}])
    put_order(events)  # the default bus: not this rule's
    first = put_order(events, EventBusName=bus_arn(bus), Time=1_700_000_000)
    assert [(e["id"], e["time"]) for e in recorded(server, function)] == [
        (first, "2023-11-14T22:13:20Z")
    ]
    # A second event, waited for: by then a delivery of the first by the disabled
    # rule (or of the default bus's event) would have shown too.
    second = put_order(events, EventBusName=bus)
    seen = recorded(server, function, count=2)
    assert sorted(e["id"] for e in seen) == sorted([first, second])


@needs_sandbox[0]
@needs_sandbox[1]
def test_rules_live_in_their_region(server: LambdadServer, events: Any) -> None:
    west = boto3_client(server.url, region="eu-west-1", service="events")
    name = unique("west")
    put = west.put_rule(Name=name, EventPattern=PATTERN)
    assert put["RuleArn"] == f"arn:aws:events:eu-west-1:{ACCOUNT_ID}:rule/{name}"
    assert [r["Name"] for r in west.list_rules(NamePrefix=name)["Rules"]] == [name]
    assert events.list_rules(NamePrefix=name)["Rules"] == []
    with pytest.raises(ClientError) as exc:
        events.describe_rule(Name=name)
    assert error(exc)[0] == "ResourceNotFoundException"
    # Its targets are its region's functions, invoked there through the async queue.
    west_lambda = boto3_client(server.url, region="eu-west-1")
    function = recorder(west_lambda)
    allow_events(west_lambda, function, put["RuleArn"])
    target = arn(function, region="eu-west-1")
    answer = west.put_targets(Rule=name, Targets=[{"Id": "t", "Arn": target}])
    assert answer["FailedEntryCount"] == 0
    east_target = {"Id": "east", "Arn": arn(function)}
    refused = west.put_targets(Rule=name, Targets=[east_target])["FailedEntries"]
    assert "not a function of this rule's region" in refused[0]["ErrorMessage"]
    event_id = put_order(west)

    def delivered() -> list[str] | None:
        answer = signed_get(west_lambda, f"{server.url}/_lambdad/functions/{function}/logs")
        lines = [e["message"] for e in answer.json()["events"]]
        return [m for m in lines if event_id in m and '"region": "eu-west-1"' in m] or None

    wait_until(delivered, "the west rule's event logged by the west function")


def test_test_event_pattern(events: Any) -> None:
    event = {
        "id": "1",
        "account": ACCOUNT_ID,
        "source": "my.app",
        "time": "2024-01-01T00:00:00Z",
        "region": REGION,
        "resources": [],
        "detail-type": "Order Placed",
        "detail": {"kind": "order-placed"},
    }
    matched = events.test_event_pattern(EventPattern=PATTERN, Event=json.dumps(event))
    assert matched["Result"] is True
    other = {**event, "detail": {"kind": "refund"}}
    assert (
        events.test_event_pattern(EventPattern=PATTERN, Event=json.dumps(other))["Result"] is False
    )
    with pytest.raises(ClientError) as exc:
        events.test_event_pattern(EventPattern='{"source": []}', Event=json.dumps(event))
    assert error(exc) == (
        "InvalidEventPatternException",
        "Event pattern is not valid. Reason: Empty arrays are not allowed",
        400,
    )
    incomplete = {k: v for k, v in event.items() if k != "account"}
    with pytest.raises(ClientError) as exc:
        events.test_event_pattern(EventPattern=PATTERN, Event=json.dumps(incomplete))
    assert error(exc) == ("ValidationException", "Parameter Event is not valid.", 400)
