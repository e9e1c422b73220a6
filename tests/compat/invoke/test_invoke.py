"""Invoke through boto3 against a live server whose functions run in bwrap sandboxes.

The sandbox backend that ran is asserted (`bwrap`), printed, and recorded as the
`invoke_server_sandbox_backend` property of each test. Skipped without root or
bubblewrap.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from botocore.exceptions import ClientError

from support.invoke import (
    WAIT,
    InvokeServer,
    create_function,
    invoke_json,
    probe_files,
)
from support.zips import make_zip

pytestmark = pytest.mark.compat

ACCOUNT = "000000000000"
REGION = "us-east-1"


@pytest.fixture(scope="module")
def probe(lam: Any) -> str:
    return create_function(
        lam,
        "inv-probe",
        probe_files(),
        Timeout=3,
        MemorySize=256,
        Environment={"Variables": {"MY_VAR": "mine", "OTHER_VAR": "x=y"}},
    )


def decode_tail(response: dict[str, Any]) -> str:
    return base64.b64decode(response["LogResult"]).decode()


def error_code(error: ClientError) -> str:
    return str(error.response["Error"]["Code"])


def test_the_server_runs_functions_in_bwrap(invoke_server: InvokeServer) -> None:
    print(f"sandbox backend: {invoke_server.backend}")
    assert invoke_server.backend == "bwrap"


def test_request_response_returns_the_result(lam: Any, probe: str) -> None:
    body, response = invoke_json(lam, probe, {"tag": "hello"})
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert body["tag"] == "hello"
    assert response["ExecutedVersion"] == "$LATEST"
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amz-executed-version"] == "$LATEST"


def test_response_request_id_is_the_functions_request_id(lam: Any, probe: str) -> None:
    body, response = invoke_json(lam, probe, {})
    assert response["ResponseMetadata"]["RequestId"] == body["context"]["aws_request_id"]


def test_log_tail_has_start_end_report_and_init_duration_only_when_cold(lam: Any) -> None:
    name = create_function(lam, "inv-tail", probe_files())
    _, cold = invoke_json(lam, name, {"tag": "one"}, LogType="Tail")
    _, warm = invoke_json(lam, name, {"tag": "two"}, LogType="Tail")
    for response, cold_start in ((cold, True), (warm, False)):
        tail = decode_tail(response)
        request_id = response["ResponseMetadata"]["RequestId"]
        assert re.search(r"^START RequestId: \S+ Version: \$LATEST$", tail, re.M), tail
        assert re.search(r"^END RequestId: \S+$", tail, re.M), tail
        report = next(line for line in tail.splitlines() if line.startswith("REPORT"))
        assert re.search(r"Duration: [\d.]+ ms", report)
        assert re.search(r"Billed Duration: \d+ ms", report)
        assert "Memory Size: 128 MB" in report
        assert re.search(r"Max Memory Used: \d+ MB", report)
        assert ("Init Duration: " in report) is cold_start, report
        assert "probe action None tag" in tail
        assert request_id in report


def test_unhandled_error_has_function_error_and_error_body(lam: Any, probe: str) -> None:
    body, response = invoke_json(lam, probe, {"action": "fail"}, LogType="Tail")
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    assert body["errorMessage"] == "probe failed on purpose"
    assert body["errorType"] == "ValueError"
    assert isinstance(body["stackTrace"], list) and body["stackTrace"]
    assert "ValueError" in decode_tail(response)


def test_dry_run_is_204_and_runs_nothing(lam: Any, probe: str, invoke_server: InvokeServer) -> None:
    _, after = invoke_server.log_events(probe)
    response = lam.invoke(FunctionName=probe, InvocationType="DryRun")
    assert response["StatusCode"] == 204
    assert response["Payload"].read() == b""
    events, _ = invoke_server.log_events(probe, after)
    assert events == []


def test_event_is_202_and_the_function_runs(
    lam: Any, probe: str, invoke_server: InvokeServer
) -> None:
    _, after = invoke_server.log_events(probe)
    response = lam.invoke(
        FunctionName=probe, InvocationType="Event", Payload=b'{"tag": "async-ok-1"}'
    )
    assert response["StatusCode"] == 202
    messages = invoke_server.wait_for_logs(
        probe, lambda m: any(x.startswith("REPORT") for x in m), after=after
    )
    assert any("tag async-ok-1" in m for m in messages), messages
    assert any(m.startswith("REPORT") for m in messages), messages


def test_event_request_id_is_the_one_the_function_runs_with(
    lam: Any, probe: str, invoke_server: InvokeServer
) -> None:
    _, after = invoke_server.log_events(probe)
    response = lam.invoke(FunctionName=probe, InvocationType="Event", Payload=b'{"tag": "rid"}')
    request_id = response["ResponseMetadata"]["RequestId"]
    messages = invoke_server.wait_for_logs(
        probe, lambda m: any(x.startswith("REPORT") for x in m), after=after
    )
    assert f"START RequestId: {request_id} Version: $LATEST" in [m.rstrip() for m in messages]


def test_failing_event_is_retried_twice(lam: Any, probe: str, invoke_server: InvokeServer) -> None:
    _, after = invoke_server.log_events(probe)
    lam.invoke(
        FunctionName=probe,
        InvocationType="Event",
        Payload=json.dumps({"action": "fail", "tag": "async-retry-1"}).encode(),
    )

    def attempts(messages: list[str]) -> int:
        return sum("tag async-retry-1" in m for m in messages)

    messages = invoke_server.wait_for_logs(probe, lambda m: attempts(m) >= 3, after=after)
    assert attempts(messages) == 3, messages
    # The same request id on every attempt, as on Lambda.
    starts = {m.split()[2] for m in messages if m.startswith("START")}
    assert len(starts) == 1
    # No fourth attempt after the last retry's delay (0.4 s here).
    more = invoke_server.wait_for_logs(probe, lambda m: attempts(m) > 0, after=after, timeout_s=1.5)
    assert attempts(more) == 3


def test_sync_payload_over_6_mb_is_refused(lam: Any, probe: str) -> None:
    payload = b'"' + b"a" * (6 * 1024 * 1024) + b'"'
    with pytest.raises(ClientError) as caught:
        lam.invoke(FunctionName=probe, Payload=payload)
    assert error_code(caught.value) == "RequestEntityTooLargeException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413


def test_async_payload_over_256_kb_is_refused(lam: Any, probe: str) -> None:
    payload = b'"' + b"a" * (256 * 1024) + b'"'
    with pytest.raises(ClientError) as caught:
        lam.invoke(FunctionName=probe, InvocationType="Event", Payload=payload)
    assert error_code(caught.value) == "RequestEntityTooLargeException"


def test_non_json_payload_is_refused(lam: Any, probe: str) -> None:
    with pytest.raises(ClientError) as caught:
        lam.invoke(FunctionName=probe, Payload=b"not json {")
    assert error_code(caught.value) == "InvalidRequestContentException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_client_context_reaches_the_handler(lam: Any, probe: str) -> None:
    client_context = base64.b64encode(json.dumps({"custom": {"k": "v"}}).encode()).decode()
    body, _ = invoke_json(lam, probe, {}, ClientContext=client_context)
    assert body["context"]["custom"] == {"k": "v"}


def test_unknown_function_is_resource_not_found(lam: Any) -> None:
    with pytest.raises(ClientError) as caught:
        lam.invoke(FunctionName="inv-no-such-function", Payload=b"{}")
    assert error_code(caught.value) == "ResourceNotFoundException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_qualifier_runs_the_published_version(lam: Any) -> None:

    # CreateFunction(Publish=True) publishes version 1 (PublishVersion: see below).
    name = create_function(lam, "inv-versioned", probe_files("v1"), Publish=True)
    lam.update_function_code(FunctionName=name, ZipFile=make_zip(probe_files("v2")))
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=WAIT)

    body, response = invoke_json(lam, name, {}, Qualifier="1")
    assert response["ExecutedVersion"] == "1"
    assert body["version"] == "v1"
    assert body["context"]["function_version"] == "1"
    assert body["context"]["invoked_function_arn"].endswith(f":function:{name}:1")
    assert body["environ"]["AWS_LAMBDA_FUNCTION_VERSION"] == "1"

    latest, response = invoke_json(lam, name, {})
    assert response["ExecutedVersion"] == "$LATEST"
    assert latest["version"] == "v2"
    # $LATEST changing again does not touch version 1.
    lam.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"MY_VAR": "changed"}}
    )
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=WAIT)
    body, _ = invoke_json(lam, name, {}, Qualifier="1")
    assert body["version"] == "v1"
    assert "MY_VAR" not in body["environ"]


def test_context_object(lam: Any, probe: str) -> None:
    body, response = invoke_json(lam, probe, {})
    context = body["context"]
    assert context["function_name"] == probe
    assert context["function_version"] == "$LATEST"
    assert context["invoked_function_arn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{probe}"
    assert int(context["memory_limit_in_mb"]) == 256
    assert re.fullmatch(r"[0-9a-f-]{36}", context["aws_request_id"])
    assert context["log_group_name"] == f"/aws/lambda/{probe}"
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]+", context["log_stream_name"])
    assert 0 < context["remaining_ms"] <= 3000


def test_environment_variables(lam: Any, probe: str) -> None:
    body, _ = invoke_json(lam, probe, {})
    env = body["environ"]
    context = body["context"]
    expected = {
        "AWS_LAMBDA_FUNCTION_NAME": probe,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{probe}",
        "AWS_LAMBDA_LOG_STREAM_NAME": context["log_stream_name"],
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "LAMBDA_TASK_ROOT": "/var/task",
        "_HANDLER": "app.handler",
        "MY_VAR": "mine",
        "OTHER_VAR": "x=y",
    }
    assert {k: env.get(k) for k in expected} == expected
    for key in (
        "LAMBDA_RUNTIME_DIR",
        "AWS_LAMBDA_RUNTIME_API",
        "_X_AMZN_TRACE_ID",
        "TZ",
        "LANG",
        "PATH",
        "LD_LIBRARY_PATH",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ):
        assert env.get(key), key
    assert re.fullmatch(r"[\w.-]+:\d+", env["AWS_LAMBDA_RUNTIME_API"])
    assert env["_X_AMZN_TRACE_ID"].startswith("Root=1-")
    assert env["PYTHONPATH"] == "/var/runtime"
    # The test runner's own environment does not leak in.
    assert env.get("AWS_SECRET_ACCESS_KEY") != "test"
    assert "PYTEST_CURRENT_TEST" not in env


def test_publish_version_then_qualifier(lam: Any) -> None:
    name = create_function(lam, "inv-published", probe_files("p1"))
    assert lam.publish_version(FunctionName=name)["Version"] == "1"
    body, response = invoke_json(lam, name, {}, Qualifier="1")
    assert (response["ExecutedVersion"], body["version"]) == ("1", "p1")
