"""Async delivery with real sandboxes: retries, destinations, age, throttles, deletion."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from support.invoke import InvokeServer, bwrap_missing_reason, create_function
from support.lambda_calls import function_arn as arn
from support.lambda_calls import unique
from support.waiting import wait_until

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
def throttling(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InvokeServer]:
    """Throttled events wait 1 s, then at most 0.5 s (not up to 5 minutes)."""
    server = start(tmp_path_factory, "throttling", {"LAMBDAD_ASYNC_THROTTLE_MAX_DELAY_S": "0.5"})
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
    return server.full_log()


def wait_for_line(server: InvokeServer, text: str, timeout_s: float = 20.0) -> None:
    wait_until(lambda: text in server_log(server), f"the server to log {text!r}", timeout_s, 0.1)


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
    wait_for_line(delivery, line)


def accepted_id(response: dict[str, Any]) -> str:
    assert response["StatusCode"] == 202
    request_id: str = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    return request_id


def test_reserved_concurrency_0_holds_async_events_until_it_is_removed(
    throttling: InvokeServer,
) -> None:
    lam = throttling.client()
    failing = create_function(lam, unique("held"), {"app.py": FAILING})
    recorder = create_function(lam, unique("recorder"), {"app.py": RECORDER})
    lam.put_function_event_invoke_config(
        FunctionName=failing,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": arn(recorder)}},
    )
    lam.put_function_concurrency(FunctionName=failing, ReservedConcurrentExecutions=0)
    with pytest.raises(ClientError) as throttled:
        lam.invoke(FunctionName=failing, Payload=b"{}")
    assert throttled.value.response["Error"]["Code"] == "TooManyRequestsException"
    assert throttled.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"

    ids = {
        accepted_id(lam.invoke(FunctionName=failing, InvocationType="Event", Payload=b"{}"))
        for _ in range(2)
    }
    for request_id in ids:
        wait_for_line(throttling, f"async event {request_id} for {failing}: throttled")
    assert f"started for {failing}:" not in server_log(throttling)

    lam.delete_function_concurrency(FunctionName=failing)
    got = records(throttling, recorder, count=2)
    # With no retries allowed, each event still ran once: throttles are not attempts.
    assert {r["requestContext"]["requestId"] for r in got} == ids
    assert {r["requestContext"]["approximateInvokeCount"] for r in got} == {1}
    assert {r["requestContext"]["condition"] for r in got} == {"RetriesExhausted"}


def test_an_event_for_a_deleted_function_is_dropped_without_an_environment(
    throttling: InvokeServer,
) -> None:
    lam = throttling.client()
    doomed = create_function(lam, unique("doomed"), {"app.py": ECHO})
    lam.put_function_concurrency(FunctionName=doomed, ReservedConcurrentExecutions=0)
    request_id = accepted_id(lam.invoke(FunctionName=doomed, InvocationType="Event", Payload=b"{}"))
    wait_for_line(throttling, f"async event {request_id} for {doomed}: throttled")
    lam.delete_function(FunctionName=doomed)
    wait_for_line(
        throttling,
        f"async event {request_id} for {doomed}:$LATEST: dropped, the function no longer exists",
    )
    assert f"started for {doomed}:" not in server_log(throttling)
