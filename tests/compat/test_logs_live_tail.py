"""CloudWatch Logs' StartLiveTail over boto3's `logs` client: a function's lines arrive as
sessionUpdate events; filter patterns, stream filters, errors, authorization, and the
session's end when the client closes its stream.

The server sends an update every second, so reading the next event never blocks for
long: each wait loops over events with a deadline."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EventStreamError

from support.identities import add_user
from support.server import (
    ACCOUNT_ID,
    REGION,
    ROLE,
    STOP_TIMEOUT_S,
    LambdadServer,
    boto3_client,
)
from support.waiting import DEFAULT_TIMEOUT_S, wait_until
from support.zips import make_zip

PRINTER = """
def handler(event, context):
    for line in event["lines"]:
        print(line)
    return context.aws_request_id
"""
Result = dict[str, Any]


@pytest.fixture(scope="module")
def logs(server: LambdadServer) -> Any:
    return boto3_client(server.url, service="logs")


@pytest.fixture(scope="module")
def function(lambda_client: Any) -> str:
    """A function that prints its event's lines, invoked once (so its log group exists)."""
    name = f"tailed-{uuid.uuid4().hex[:8]}"
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": PRINTER})},
    )
    _invoke(lambda_client, name, ["warming up"])
    return name


def _arn(group: str) -> str:
    return f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{group}"


def _invoke(lambda_client: Any, name: str, lines: list[str]) -> str:
    answer = lambda_client.invoke(FunctionName=name, Payload=json.dumps({"lines": lines}))
    assert "FunctionError" not in answer
    request_id: str = json.loads(answer["Payload"].read())
    return request_id


def _started(logs: Any, **request: Any) -> tuple[Any, Iterator[Result]]:
    """A live tail's stream and its events, after checking its sessionStart."""
    stream = logs.start_live_tail(**request)["responseStream"]
    events = iter(stream)
    start = next(events)["sessionStart"]
    assert start["logGroupIdentifiers"] == request["logGroupIdentifiers"]
    assert start["sessionId"] and start["requestId"]
    return stream, events


def _results_until(
    events: Iterator[Result], done: Callable[[list[Result]], bool], what: str
) -> list[Result]:
    """The sessionUpdates' log events until `done` says they are enough (or the deadline)."""
    deadline = time.monotonic() + DEFAULT_TIMEOUT_S
    results: list[Result] = []
    while not done(results):
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {results}"
        update = next(events)["sessionUpdate"]
        assert isinstance(update["sessionMetadata"]["sampled"], bool)
        results += update["sessionResults"]
    return results


def _has(results: list[Result], *needles: str) -> bool:
    return all(any(needle in result["message"] for result in results) for needle in needles)


def test_a_functions_lines_arrive_as_session_updates(
    logs: Any, lambda_client: Any, function: str
) -> None:
    group = f"/aws/lambda/{function}"
    stream, events = _started(logs, logGroupIdentifiers=[_arn(group)])
    try:
        marker = uuid.uuid4().hex
        request_id = _invoke(lambda_client, function, [f"hello {marker}", "second line"])
        wanted = (
            f"START RequestId: {request_id}",
            f"hello {marker}",
            "second line",
            f"END RequestId: {request_id}",
            f"REPORT RequestId: {request_id}",
        )
        results = _results_until(
            events, lambda found: _has(found, *wanted), "the invocation's lines"
        )
    finally:
        stream.close()
    ours = [
        result
        for result in results
        if request_id in result["message"] or marker in result["message"]
    ]
    for result in results:
        assert result["logGroupIdentifier"] == _arn(group)
        assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", result["logStreamName"])
        assert result["ingestionTime"] >= result["timestamp"] > 0
    messages = [result["message"] for result in results]
    # In order: START, the function's lines, END, REPORT.
    start = next(
        i for i, m in enumerate(messages) if m.startswith(f"START RequestId: {request_id}")
    )
    hello = messages.index(f"hello {marker}")
    end = next(i for i, m in enumerate(messages) if m.startswith(f"END RequestId: {request_id}"))
    assert start < hello < end
    assert len(ours) >= 4


def test_the_filter_pattern_chooses_the_events(
    logs: Any, lambda_client: Any, function: str
) -> None:
    marker = uuid.uuid4().hex
    stream, events = _started(
        logs,
        logGroupIdentifiers=[_arn(f"/aws/lambda/{function}")],
        logEventFilterPattern=f"?ALPHA ?DONE{marker}",
    )
    try:
        _invoke(
            lambda_client,
            function,
            ["GAMMA skipped", "ALPHA kept", "ALPHAS skipped", f"DONE{marker}"],
        )
        results = _results_until(
            events, lambda found: _has(found, f"DONE{marker}"), "the last line"
        )
    finally:
        stream.close()
    # Everything printed before the last line was published before it: what came is all.
    assert [result["message"] for result in results] == ["ALPHA kept", f"DONE{marker}"]


def test_stream_names_and_prefixes_choose_the_streams(
    logs: Any, lambda_client: Any, function: str
) -> None:
    group = f"/aws/lambda/{function}"
    found = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True)
    name = found["logStreams"][0]["logStreamName"]
    for selection in ({"logStreamNames": [name]}, {"logStreamNamePrefixes": [name[:12]]}):
        stream, events = _started(logs, logGroupIdentifiers=[group], **selection)
        try:
            marker = uuid.uuid4().hex
            _invoke(lambda_client, function, [marker])

            def seen(found: list[Result], marker: str = marker) -> bool:
                return _has(found, marker)

            results = _results_until(events, seen, "the line")
        finally:
            stream.close()
        assert {result["logStreamName"] for result in results} == {name}
        assert {result["logGroupIdentifier"] for result in results} == {group}


def test_bad_requests_get_aws_errors(logs: Any, function: str) -> None:
    group = f"/aws/lambda/{function}"
    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"logGroupIdentifiers": [_arn("/aws/lambda/no-such-function")]},
            "ResourceNotFoundException",
        ),
        ({"logGroupIdentifiers": [_arn(group) + ":*"]}, "InvalidParameterException"),
        (
            {
                "logGroupIdentifiers": [group],
                "logStreamNames": ["a"],
                "logStreamNamePrefixes": ["b"],
            },
            "InvalidParameterException",
        ),
        (
            {"logGroupIdentifiers": [group, "/other"], "logStreamNames": ["a"]},
            "InvalidParameterException",
        ),
        (
            {"logGroupIdentifiers": [group], "logEventFilterPattern": "{ $.a = "},
            "InvalidParameterException",
        ),
    ]
    for request, code in cases:
        with pytest.raises(ClientError) as caught:
            logs.start_live_tail(**request)
        assert caught.value.response["Error"]["Code"] == code, request


def test_live_tail_needs_logs_start_live_tail_on_the_group(
    server: LambdadServer, function: str
) -> None:
    group = f"/aws/lambda/{function}"
    allowed = {"Effect": "Allow", "Action": "logs:StartLiveTail", "Resource": f"{_arn(group)}:*"}
    user = add_user(
        server, f"tailer-{uuid.uuid4().hex[:6]}", {"Version": "2012-10-17", "Statement": [allowed]}
    )
    tailer = boto3_client(server.url, service="logs", credentials=user)
    stream, _events = _started(tailer, logGroupIdentifiers=[_arn(group)])
    stream.close()
    for groups in ([_arn("/aws/lambda/another")], [_arn(group), _arn("/aws/lambda/another")]):
        with pytest.raises(ClientError) as caught:
            tailer.start_live_tail(logGroupIdentifiers=groups)
        assert caught.value.response["Error"]["Code"] == "AccessDeniedException"


def test_closing_the_stream_ends_the_session(
    server: LambdadServer, logs: Any, function: str
) -> None:
    stream = logs.start_live_tail(logGroupIdentifiers=[_arn(f"/aws/lambda/{function}")])[
        "responseStream"
    ]
    session = next(iter(stream))["sessionStart"]["sessionId"]
    assert f"live tail session {session} started" in server.full_log()
    stream.close()
    wait_until(
        lambda: f"live tail session {session} ended" in server.full_log(),
        "the server to end the session",
    )


def test_a_stopping_server_ends_its_sessions(tmp_path: Path) -> None:
    """uvicorn waits for open responses before it stops: a session must not keep it 3 hours."""
    with LambdadServer(tmp_path / "data") as server:
        logs = boto3_client(server.url, service="logs")
        logs.create_log_group(logGroupName="/tailed")
        stream, events = _started(logs, logGroupIdentifiers=["/tailed"])
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < STOP_TIMEOUT_S  # not killed at the deadline
        assert "Finished server process" in server.full_log()
        with pytest.raises(EventStreamError) as caught:
            for _event in events:
                pass
        assert caught.value.response["Error"]["Code"] == "SessionStreamingException"
        stream.close()
