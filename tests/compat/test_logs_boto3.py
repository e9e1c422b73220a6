"""CloudWatch Logs' API over boto3's `logs` client: groups, streams, events both ways,
filter patterns of every kind, retention; against a real function's log group."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from support.identities import add_user
from support.server import ACCOUNT_ID, REGION, ROLE, LambdadServer, boto3_client
from support.zips import make_zip

PRINTER = """
def handler(event, context):
    for line in event["lines"]:
        print(line)
    return len(event["lines"])
"""
JSON_LINES = [
    json.dumps({"level": "ERROR", "latency": 120, "path": "/api/users", "user": None}),
    json.dumps({"level": "INFO", "latency": 20, "path": "/api/health", "ok": True}),
    json.dumps({"level": "ERROR", "latency": 5, "path": "/static/x", "tags": ["a", "b"]}),
]
TEXT_LINES = [
    "[ERROR 400] BAD REQUEST",
    "[ERROR 401] UNAUTHORIZED REQUEST",
    "[ERROR 419] MISSING ARGUMENTS",
    "[ERROR 420] INVALID ARGUMENTS",
    "[INFO] everything fine ERRORS=0",
    "[WARN] INTERNAL SERVER ERROR upstream",
]


@pytest.fixture(scope="module")
def logs(server: LambdadServer) -> Any:
    return boto3_client(server.url, service="logs")


@pytest.fixture(scope="module")
def printed(server: LambdadServer, lambda_client: Any) -> str:
    """A function's log group after two invocations printed TEXT_LINES and JSON_LINES."""
    name = f"printer-{uuid.uuid4().hex[:8]}"
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": PRINTER})},
    )
    for lines in (TEXT_LINES, JSON_LINES):
        answer = lambda_client.invoke(FunctionName=name, Payload=json.dumps({"lines": lines}))
        assert "FunctionError" not in answer, answer["Payload"].read()
    return f"/aws/lambda/{name}"


def _error(call: Any, **kwargs: Any) -> str:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    code: str = caught.value.response["Error"]["Code"]
    return code


def test_groups_are_created_listed_paged_and_deleted(logs: Any) -> None:
    base = f"/test/{uuid.uuid4().hex[:8]}"
    names = [f"{base}/a", f"{base}/b", f"{base}/c"]
    for name in names:
        logs.create_log_group(logGroupName=name)
    assert _error(logs.create_log_group, logGroupName=names[0]) == "ResourceAlreadyExistsException"
    assert _error(logs.create_log_group, logGroupName="bad name!") == "InvalidParameterException"

    pages = logs.get_paginator("describe_log_groups").paginate(
        logGroupNamePrefix=base, PaginationConfig={"PageSize": 2}
    )
    listed = [page["logGroups"] for page in pages]
    assert [len(page) for page in listed] == [2, 1]
    groups = [group for page in listed for group in page]
    assert [group["logGroupName"] for group in groups] == names
    assert groups[0]["arn"].endswith(f":log-group:{names[0]}:*")
    assert groups[0]["logGroupArn"].endswith(f":log-group:{names[0]}")
    assert "retentionInDays" not in groups[0]
    found = logs.describe_log_groups(logGroupNamePattern=base.split("/")[-1] + "/b")
    assert [g["logGroupName"] for g in found["logGroups"]] == [names[1]]
    assert (
        _error(logs.describe_log_groups, logGroupNamePrefix=base, logGroupNamePattern="x")
        == "InvalidParameterException"
    )

    logs.put_retention_policy(logGroupName=names[1], retentionInDays=14)
    assert _error(logs.put_retention_policy, logGroupName=names[1], retentionInDays=2) == (
        "InvalidParameterException"
    )
    described = logs.describe_log_groups(logGroupNamePrefix=names[1])["logGroups"]
    assert described[0]["retentionInDays"] == 14
    logs.delete_retention_policy(logGroupName=names[1])
    described = logs.describe_log_groups(logGroupNamePrefix=names[1])["logGroups"]
    assert "retentionInDays" not in described[0]
    missing = f"{base}/none"
    assert (
        _error(logs.put_retention_policy, logGroupName=missing, retentionInDays=1)
        == "ResourceNotFoundException"
    )

    logs.delete_log_group(logGroupName=names[0])
    assert _error(logs.delete_log_group, logGroupName=names[0]) == "ResourceNotFoundException"
    left = logs.describe_log_groups(logGroupNamePrefix=base)["logGroups"]
    assert [g["logGroupName"] for g in left] == names[1:]


def test_a_functions_streams_are_named_and_ordered_as_aws_does(logs: Any, printed: str) -> None:
    streams = logs.describe_log_streams(logGroupName=printed)["logStreams"]
    assert streams
    for stream in streams:
        assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", stream["logStreamName"])
        assert stream["firstEventTimestamp"] <= stream["lastEventTimestamp"]
        assert stream["lastIngestionTime"] >= stream["lastEventTimestamp"]
        assert stream["arn"].endswith(f":log-group:{printed}:log-stream:{stream['logStreamName']}")
    by_time = logs.describe_log_streams(
        logGroupName=printed, orderBy="LastEventTime", descending=True
    )["logStreams"]
    times = [stream["lastEventTimestamp"] for stream in by_time]
    assert times == sorted(times, reverse=True)
    assert (
        _error(
            logs.describe_log_streams,
            logGroupName=printed,
            orderBy="LastEventTime",
            logStreamNamePrefix="2",
        )
        == "InvalidParameterException"
    )
    assert (
        _error(logs.describe_log_streams, logGroupName=f"{printed}-none")
        == "ResourceNotFoundException"
    )


def _stream_with(logs: Any, group: str, line: str) -> str:
    for stream in logs.describe_log_streams(logGroupName=group)["logStreams"]:
        name: str = stream["logStreamName"]
        events = logs.get_log_events(logGroupName=group, logStreamName=name, startFromHead=True)
        if any(event["message"] == line for event in events["events"]):
            return name
    raise AssertionError(f"no stream of {group} holds {line!r}")


def test_get_log_events_pages_forward_and_backward_with_aws_tokens(logs: Any, printed: str) -> None:
    stream = _stream_with(logs, printed, TEXT_LINES[0])
    everything = logs.get_log_events(logGroupName=printed, logStreamName=stream, startFromHead=True)
    messages = [event["message"] for event in everything["events"]]
    assert any(m.startswith("START RequestId: ") for m in messages)
    assert any(m.startswith("END RequestId: ") for m in messages)
    assert any(m.startswith("REPORT RequestId: ") and "Billed Duration" in m for m in messages)
    assert TEXT_LINES[0] in messages
    for event in everything["events"]:
        assert event["ingestionTime"] >= event["timestamp"]

    forward: list[str] = []
    token = None
    for _ in range(len(messages) + 2):
        kwargs = {"nextToken": token} if token else {"startFromHead": True}
        page = logs.get_log_events(logGroupName=printed, logStreamName=stream, limit=2, **kwargs)
        assert page["nextForwardToken"].startswith("f/")
        assert page["nextBackwardToken"].startswith("b/")
        if page["nextForwardToken"] == token:
            assert page["events"] == []
            break
        forward += [event["message"] for event in page["events"]]
        token = page["nextForwardToken"]
    assert forward == messages

    backward: list[str] = []
    last = logs.get_log_events(logGroupName=printed, logStreamName=stream, limit=2)
    backward = [event["message"] for event in last["events"]]
    assert backward == messages[-2:]
    token = last["nextBackwardToken"]
    for _ in range(len(messages) + 2):
        page = logs.get_log_events(
            logGroupName=printed, logStreamName=stream, limit=2, nextToken=token
        )
        if page["nextBackwardToken"] == token:
            assert page["events"] == []
            break
        backward = [event["message"] for event in page["events"]] + backward
        token = page["nextBackwardToken"]
    assert backward == messages

    first = everything["events"][0]["timestamp"]
    ranged = logs.get_log_events(
        logGroupName=printed, logStreamName=stream, startFromHead=True, endTime=first
    )
    assert ranged["events"] == []  # endTime is exclusive
    assert (
        _error(logs.get_log_events, logGroupName=printed, logStreamName="nope")
        == "ResourceNotFoundException"
    )
    assert (
        _error(logs.get_log_events, logGroupName=printed, logStreamName=stream, nextToken="x")
        == "InvalidParameterException"
    )


def _filtered(logs: Any, group: str, pattern: str, **kwargs: Any) -> list[str]:
    pages = logs.get_paginator("filter_log_events").paginate(
        logGroupName=group, filterPattern=pattern, **kwargs
    )
    return [event["message"] for page in pages for event in page["events"]]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("ERROR", [*TEXT_LINES[:4], TEXT_LINES[5], JSON_LINES[0], JSON_LINES[2]]),
        ("ERROR ARGUMENTS", TEXT_LINES[2:4]),
        ("?ARGUMENTS ?fine", TEXT_LINES[2:5]),
        ("ERROR -ARGUMENTS", [*TEXT_LINES[:2], TEXT_LINES[5], JSON_LINES[0], JSON_LINES[2]]),
        ('"INTERNAL SERVER ERROR"', [TEXT_LINES[5]]),
        ('"ERROR 41"', []),  # whole words: 41 is not 419
        ("%ERROR 40[01]%", TEXT_LINES[:2]),
        ("error", []),  # case sensitive
        ('{ $.level = "ERROR" }', [JSON_LINES[0], JSON_LINES[2]]),
        ('{ $.level = "ERROR" && $.latency > 100 }', [JSON_LINES[0]]),
        ("{ $.latency < 10 || $.ok IS TRUE }", JSON_LINES[1:]),
        ('{ $.path = "/api/*" }', JSON_LINES[:2]),
        ("{ $.user IS NULL }", [JSON_LINES[0]]),
        ("{ $.tags[1] = b }", [JSON_LINES[2]]),
        ("{ $.tags NOT EXISTS && $.level != INFO }", [JSON_LINES[0]]),
    ],
)
def test_filter_patterns_match_as_aws_documents(
    logs: Any, printed: str, pattern: str, expected: list[str]
) -> None:
    assert _filtered(logs, printed, pattern) == expected


def test_filter_log_events_pages_and_narrows_by_stream_and_time(logs: Any, printed: str) -> None:
    everything = _filtered(logs, printed, "")
    platform = ("INIT_START", "START", "END", "REPORT")
    assert [m for m in everything if not m.startswith(platform)] == TEXT_LINES + JSON_LINES
    assert len([m for m in everything if m.startswith("REPORT")]) == 2
    paged = _filtered(logs, printed, "", PaginationConfig={"PageSize": 3})
    assert paged == everything
    stream = _stream_with(logs, printed, TEXT_LINES[0])
    in_stream = _filtered(logs, printed, "REPORT", logStreamNames=[stream])
    assert len(in_stream) >= 1
    assert _filtered(logs, printed, "REPORT", logStreamNamePrefix="1999/") == []
    assert _filtered(logs, printed, "", endTime=1) == []
    events = logs.filter_log_events(logGroupName=printed, filterPattern="START")["events"]
    assert all(set(event) >= {"eventId", "logStreamName", "ingestionTime"} for event in events)
    assert (
        _error(logs.filter_log_events, logGroupName=printed, filterPattern='"open')
        == "InvalidParameterException"
    )
    assert (
        _error(logs.filter_log_events, logGroupName=printed, filterPattern="{ $.a = }")
        == "InvalidParameterException"
    )


def test_each_operation_is_authorized_on_its_log_group(logs: Any, server: LambdadServer) -> None:
    base = f"/authz/{uuid.uuid4().hex[:8]}"
    mine, other = f"{base}/mine", f"{base}/other"
    for name in (mine, other):
        logs.create_log_group(logGroupName=name)
    group_arn = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{mine}:*"
    allowed = {
        "Effect": "Allow",
        "Action": ["logs:FilterLogEvents", "logs:DescribeLogStreams"],
        "Resource": group_arn,
    }
    reader = boto3_client(
        server.url,
        service="logs",
        credentials=add_user(
            server,
            f"reader-{uuid.uuid4().hex[:6]}",
            {"Version": "2012-10-17", "Statement": [allowed]},
        ),
    )
    assert reader.filter_log_events(logGroupName=mine)["events"] == []
    assert reader.describe_log_streams(logGroupName=mine)["logStreams"] == []
    calls: list[Callable[[], Any]] = [
        lambda: reader.filter_log_events(logGroupName=other),
        lambda: reader.delete_log_group(logGroupName=mine),
        lambda: reader.describe_log_groups(),
    ]
    for call in calls:
        with pytest.raises(ClientError) as caught:
            call()
        assert caught.value.response["Error"]["Code"] == "AccessDeniedException"
    with pytest.raises(ClientError) as caught:
        reader.filter_log_events(logGroupName=other)
    assert (
        f"logs:FilterLogEvents on resource: arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{other}:*"
        in (caught.value.response["Error"]["Message"])
    )
