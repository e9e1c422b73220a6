"""Async delivery with real sandboxes: retries, destinations, age, throttles, deletion."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from support.invoke import InvokeServer, bwrap_missing_reason, create_function
from support.lambda_calls import function_arn as arn
from support.lambda_calls import unique

pytestmark = pytest.mark.compat

FAILING = """
def handler(event, context):
    print("attempt", event.get("tag"), context.aws_request_id)
    raise ValueError("failed on purpose: " + str(event.get("tag")))
"""
SLOW_FAILING = """
import time

def handler(event, context):
    print("attempt", event.get("tag"), context.aws_request_id)
    time.sleep(2.2)
    raise ValueError("slow failure")
"""
SLOW = """
import time

def handler(event, context):
    time.sleep(event.get("seconds", 0))
    return {"slept": event.get("seconds", 0)}
"""
ECHO = """
def handler(event, context):
    print("ran", event.get("tag"), context.aws_request_id)
    return {"echo": event.get("tag")}
"""
RECORDER = """
import json

def handler(event, context):
    print("RECORD " + json.dumps(event))
"""


def start(tmp_path_factory: pytest.TempPathFactory, name: str, env: dict[str, str]) -> InvokeServer:
    reason = bwrap_missing_reason()
    if reason:
        pytest.skip(reason)
    server = InvokeServer(tmp_path_factory.mktemp(name) / "data", ["--sandbox", "bwrap"], env)
    server.start()
    return server


@pytest.fixture(scope="module")
def delivery(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InvokeServer]:
    """Retries after 0.3 s then 0.6 s; no event lives longer than 4 s."""
    server = start(
        tmp_path_factory,
        "delivery",
        {"LAMBDAD_ASYNC_RETRY_BASE_S": "0.3", "LAMBDAD_ASYNC_MAX_EVENT_AGE_S": "4"},
    )
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def narrow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InvokeServer]:
    """An account with room for one invocation at a time; throttled events wait <= 0.5 s."""
    server = start(
        tmp_path_factory,
        "narrow",
        {"LAMBDAD_CONCURRENT_EXECUTIONS": "1", "LAMBDAD_ASYNC_THROTTLE_MAX_DELAY_S": "0.5"},
    )
    try:
        yield server
    finally:
        server.stop()


def records(server: InvokeServer, recorder: str, count: int = 1) -> list[dict[str, Any]]:
    """Wait (bounded) for `count` destination records at `recorder`."""

    def found(messages: list[str]) -> list[dict[str, Any]]:
        return [json.loads(m.split("RECORD ", 1)[1]) for m in messages if "RECORD " in m]

    messages = server.wait_for_logs(recorder, lambda m: len(found(m)) >= count, timeout_s=30.0)
    got = found(messages)
    assert len(got) >= count, f"no record arrived:\n{server.log()}"
    return got


def server_log(server: InvokeServer) -> str:
    return server.log_path.read_text(errors="replace")


def test_a_failing_event_reaches_on_failure_after_three_attempts(delivery: InvokeServer) -> None:
    lam = delivery.client()
    failing = create_function(lam, unique("failing"), {"app.py": FAILING})
    recorder = create_function(lam, unique("recorder"), {"app.py": RECORDER})
    lam.put_function_event_invoke_config(
        FunctionName=failing,
        MaximumRetryAttempts=2,
        DestinationConfig={"OnFailure": {"Destination": arn(recorder)}},
    )
    accepted = lam.invoke(FunctionName=failing, InvocationType="Event", Payload=b'{"tag": "three"}')
    assert accepted["StatusCode"] == 202
    request_id = accepted["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]

    (record,) = records(delivery, recorder)
    attempts = [
        m for m in delivery.wait_for_logs(failing, lambda m: False, timeout_s=0) if "attempt" in m
    ]
    assert len(attempts) == 3
    assert all(request_id in m for m in attempts)
    assert record["version"] == "1.0"
    assert record["timestamp"].endswith("Z")
    assert record["requestContext"] == {
        "requestId": request_id,
        "functionArn": arn(failing, "$LATEST"),
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 3,
    }
    assert record["requestPayload"] == {"tag": "three"}
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert record["responsePayload"]["errorMessage"] == "failed on purpose: three"
    assert record["responsePayload"]["errorType"] == "ValueError"
    assert f"async event {request_id} for {arn(failing, '$LATEST')}: RetriesExhausted" in (
        server_log(delivery)
    )


def test_success_goes_to_on_success_with_the_response(delivery: InvokeServer) -> None:
    lam = delivery.client()
    echo = create_function(lam, unique("echo"), {"app.py": ECHO}, Publish=True)
    recorder = create_function(lam, unique("recorder"), {"app.py": RECORDER})
    lam.put_function_event_invoke_config(
        FunctionName=echo,
        Qualifier="1",
        DestinationConfig={"OnSuccess": {"Destination": arn(recorder)}},
    )
    lam.invoke(FunctionName=echo, Qualifier="1", InvocationType="Event", Payload=b'{"tag": "ok"}')
    (record,) = records(delivery, recorder)
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestContext"]["functionArn"] == arn(echo, "1")
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "1"}
    assert record["responsePayload"] == {"echo": "ok"}


def test_an_alias_config_applies_to_events_invoked_through_the_alias(
    delivery: InvokeServer,
) -> None:
    lam = delivery.client()
    echo = create_function(lam, unique("echo"), {"app.py": ECHO}, Publish=True)
    lam.create_alias(FunctionName=echo, Name="live", FunctionVersion="1")
    recorder = create_function(lam, unique("recorder"), {"app.py": RECORDER})
    lam.put_function_event_invoke_config(
        FunctionName=echo,
        Qualifier="live",
        DestinationConfig={"OnSuccess": {"Destination": arn(recorder)}},
    )
    lam.invoke(FunctionName=f"{echo}:live", InvocationType="Event", Payload=b'{"tag": "a"}')
    (record,) = records(delivery, recorder)
    assert record["requestContext"]["functionArn"] == arn(echo, "live")
    assert record["responseContext"]["executedVersion"] == "1"


def test_an_aged_out_event_goes_to_on_failure(delivery: InvokeServer) -> None:
    lam = delivery.client()
    slow = create_function(lam, unique("slowfail"), {"app.py": SLOW_FAILING}, Timeout=10)
    recorder = create_function(lam, unique("recorder"), {"app.py": RECORDER})
    lam.put_function_event_invoke_config(
        FunctionName=slow,
        MaximumRetryAttempts=2,
        DestinationConfig={"OnFailure": {"Destination": arn(recorder)}},
    )
    accepted = lam.invoke(FunctionName=slow, InvocationType="Event", Payload=b'{"tag": "old"}')
    request_id = accepted["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    (record,) = records(delivery, recorder)
    context = record["requestContext"]
    assert context["requestId"] == request_id
    assert context["condition"] == "EventAgeExceeded"
    # Three 2.2 s attempts cannot fit in 4 s: the event aged out after one or two.
    assert context["approximateInvokeCount"] in (1, 2)
    assert record["requestPayload"] == {"tag": "old"}
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert "EventAgeExceeded" in server_log(delivery)


def test_without_a_destination_a_failed_event_is_logged(delivery: InvokeServer) -> None:
    lam = delivery.client()
    failing = create_function(lam, unique("failing"), {"app.py": FAILING})
    lam.put_function_event_invoke_config(FunctionName=failing, MaximumRetryAttempts=0)
    accepted = lam.invoke(FunctionName=failing, InvocationType="Event", Payload=b"{}")
    request_id = accepted["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    line = (
        f"async event {request_id} for {arn(failing, '$LATEST')}: RetriesExhausted after "
        "1 attempt(s); no OnFailure destination, dropped"
    )
    deadline = time.monotonic() + 20
    while line not in server_log(delivery):
        assert time.monotonic() < deadline, server_log(delivery)[-3000:]
        time.sleep(0.1)


def hold_the_only_slot(server: InvokeServer, seconds: float) -> threading.Thread:
    """A synchronous invoke that keeps the account's one unit of concurrency busy."""
    lam = server.client()
    slow = create_function(lam, unique("slow"), {"app.py": SLOW}, Timeout=15)
    thread = threading.Thread(
        target=lam.invoke,
        kwargs={"FunctionName": slow, "Payload": json.dumps({"seconds": seconds}).encode()},
    )
    thread.start()
    # Its environment starts once the invoke holds the slot; the handler then holds it on.
    wait_for_line(server, f"started for {slow}:$LATEST")
    return thread


def wait_for_line(server: InvokeServer, text: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in server_log(server):
        assert time.monotonic() < deadline, f"never logged {text!r}:\n{server.log()}"
        time.sleep(0.1)


def test_throttled_events_wait_without_using_up_attempts(narrow: InvokeServer) -> None:
    lam = narrow.client()
    failing = create_function(lam, unique("failing"), {"app.py": FAILING})
    recorder = create_function(lam, unique("recorder"), {"app.py": RECORDER})
    lam.put_function_event_invoke_config(
        FunctionName=failing,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": arn(recorder)}},
    )
    holder = hold_the_only_slot(narrow, seconds=2.0)
    try:
        accepted = lam.invoke(FunctionName=failing, InvocationType="Event", Payload=b"{}")
        request_id = accepted["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
        wait_for_line(narrow, f"async event {request_id} for {failing}: throttled")
    finally:
        holder.join(timeout=30)
    (record,) = records(narrow, recorder)
    # Throttles are not attempts: with no retries allowed, the event still ran once.
    assert record["requestContext"]["requestId"] == request_id
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["requestContext"]["condition"] == "RetriesExhausted"


def test_an_event_for_a_deleted_function_is_dropped_without_an_environment(
    narrow: InvokeServer,
) -> None:
    lam = narrow.client()
    doomed = create_function(lam, unique("doomed"), {"app.py": ECHO})
    holder = hold_the_only_slot(narrow, seconds=2.0)
    try:
        accepted = lam.invoke(FunctionName=doomed, InvocationType="Event", Payload=b"{}")
        request_id = accepted["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
        wait_for_line(narrow, f"async event {request_id} for {doomed}: throttled")
        lam.delete_function(FunctionName=doomed)
    finally:
        holder.join(timeout=30)
    wait_for_line(
        narrow,
        f"async event {request_id} for {doomed}:$LATEST: dropped, the function no longer exists",
    )
    assert f"started for {doomed}:" not in server_log(narrow)
