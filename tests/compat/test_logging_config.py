"""LoggingConfig as Lambda honours it: Text or JSON logs, application and system log
levels, over boto3 (the lambda client to configure, the logs client to read), with
real Python and Node functions."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from support.lambda_calls import wait_active
from support.server import ROLE, LambdadServer, boto3_client
from support.waiting import wait_until
from support.zips import make_zip

PYTHON = """
import logging

logger = logging.getLogger("orders")


def handler(event, context):
    logging.getLogger().setLevel(logging.DEBUG) if event.get("force_debug") else None
    logger.debug("a detail")
    logger.info("order %s placed", 42, extra={"orderId": 42})
    logger.warning("stock low")
    try:
        1 / 0
    except ZeroDivisionError:
        logger.exception("could not divide")
    print("plain print")
    return "ok"
"""
NODE = """
exports.handler = async () => {
  console.debug("a detail");
  console.log({ orderId: 42, state: "placed" });
  console.warn("stock %s", "low");
  console.error(new TypeError("bad input"));
  return "ok";
};
"""


@pytest.fixture(scope="module")
def logs(server: LambdadServer) -> Any:
    return boto3_client(server.url, service="logs")


def _function(lambda_client: Any, runtime: str, logging_config: dict[str, str]) -> str:
    name = f"logcfg-{uuid.uuid4().hex[:8]}"
    python = runtime.startswith("python")
    lambda_client.create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=ROLE,
        Handler="app.handler" if python else "index.handler",
        Code={"ZipFile": make_zip({"app.py": PYTHON} if python else {"index.js": NODE})},
        LoggingConfig=logging_config,
    )
    answer = lambda_client.invoke(FunctionName=name, Payload=b"{}")
    assert "FunctionError" not in answer, answer["Payload"].read()
    return name


def _events(logs: Any, name: str) -> list[str]:
    def report_stored() -> list[str] | None:
        found = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
        messages = [event["message"] for event in found]
        return messages if any("platform.report" in m or "REPORT" in m for m in messages) else None

    return wait_until(report_stored, "the invocation's REPORT in its log group")


def _records(messages: list[str]) -> list[dict[str, Any]]:
    """The JSON records among the events (print()'s lines stay text, as on AWS)."""
    records = []
    for message in messages:
        if message.startswith("{"):
            parsed = json.loads(message)
            assert isinstance(parsed, dict)
            records.append(parsed)
    return records


def test_the_configuration_is_validated_and_shown_as_aws_does(
    lambda_client: Any, raw_client: Any
) -> None:
    name = f"logcfg-{uuid.uuid4().hex[:8]}"
    common: dict[str, Any] = {
        "FunctionName": name,
        "Runtime": "python3.12",
        "Role": ROLE,
        "Handler": "app.handler",
        "Code": {"ZipFile": make_zip({"app.py": PYTHON})},
    }
    with pytest.raises(ClientError) as text_levels:
        lambda_client.create_function(
            **common, LoggingConfig={"LogFormat": "Text", "ApplicationLogLevel": "DEBUG"}
        )
    assert text_levels.value.response["Error"]["Code"] == "InvalidParameterValueException"
    with pytest.raises(ClientError) as bad_level:
        raw_client.create_function(
            **common, LoggingConfig={"LogFormat": "JSON", "SystemLogLevel": "ERROR"}
        )
    assert bad_level.value.response["Error"]["Code"] == "ValidationException"
    assert "loggingConfig.systemLogLevel" in bad_level.value.response["Error"]["Message"]

    created = lambda_client.create_function(**common, LoggingConfig={"LogFormat": "JSON"})
    assert created["LoggingConfig"] == {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "INFO",
        "SystemLogLevel": "INFO",
        "LogGroup": f"/aws/lambda/{name}",
    }
    wait_active(lambda_client, name)
    updated = lambda_client.update_function_configuration(
        FunctionName=name, LoggingConfig={"LogFormat": "Text"}
    )
    assert updated["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}


def test_python_json_logs_are_aws_records_filtered_by_level(lambda_client: Any, logs: Any) -> None:
    name = _function(lambda_client, "python3.12", {"LogFormat": "JSON"})
    messages = _events(logs, name)
    assert "plain print" in messages  # text, at INFO for the filter
    records = _records(messages)
    types = [record.get("type") for record in records if "type" in record]
    assert types == ["platform.initStart", "platform.start", "platform.report"]
    start = next(r for r in records if r.get("type") == "platform.start")
    assert start["record"]["version"] == "$LATEST"
    report = next(r for r in records if r.get("type") == "platform.report")
    assert report["record"]["status"] == "success"
    assert report["record"]["requestId"] == start["record"]["requestId"]
    assert {"durationMs", "billedDurationMs", "memorySizeMB", "maxMemoryUsedMB"} <= set(
        report["record"]["metrics"]
    )
    application = [r for r in records if "level" in r]
    assert [r["message"] for r in application] == [
        "order 42 placed",
        "stock low",
        "could not divide",
    ]  # the DEBUG record is not written at INFO
    info = application[0]
    assert info["level"] == "INFO"
    assert info["logger"] == "orders"
    assert info["requestId"] == start["record"]["requestId"]
    assert info["orderId"] == 42
    assert info["timestamp"].endswith("Z")
    assert application[1]["level"] == "WARNING"
    failed = application[2]
    assert failed["errorType"] == "ZeroDivisionError"
    assert failed["errorMessage"] == "division by zero"
    assert failed["stackTrace"]


def test_levels_filter_application_and_platform_events(lambda_client: Any, logs: Any) -> None:
    config = {"LogFormat": "JSON", "ApplicationLogLevel": "ERROR", "SystemLogLevel": "WARN"}
    name = _function(lambda_client, "python3.12", config)
    lambda_client.invoke(FunctionName=name, Payload=b"{}")
    group = f"/aws/lambda/{name}"

    def written() -> list[str] | None:
        messages = [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]]
        return messages if len(messages) >= 2 else None

    records = _records(wait_until(written, "both invocations' ERROR records"))
    assert [record["message"] for record in records] == ["could not divide"] * 2
    assert all(record["level"] == "ERROR" for record in records)
    # the print and the WARNING went, and so did every platform record (system level WARN)


def test_node_console_writes_aws_json_records(lambda_client: Any, logs: Any) -> None:
    name = _function(
        lambda_client, "nodejs20.x", {"LogFormat": "JSON", "ApplicationLogLevel": "INFO"}
    )
    records = _records(_events(logs, name))
    application = [r for r in records if "level" in r]
    assert [r["level"] for r in application] == ["INFO", "WARN", "ERROR"]
    assert application[0]["message"] == {"orderId": 42, "state": "placed"}
    assert application[1]["message"] == "stock low"
    assert application[2]["errorType"] == "TypeError"
    assert application[2]["errorMessage"] == "bad input"
    assert application[2]["stackTrace"][0].startswith("TypeError: bad input")
    start = next(r for r in records if r.get("type") == "platform.start")
    assert all(r["requestId"] == start["record"]["requestId"] for r in application)
