"""Small helpers for boto3 tests of the API: ARNs, new functions, error triples."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from support.server import ACCOUNT_ID, REGION, ROLE
from support.zips import handler_zip

FAST_WAIT = {"Delay": 0.05, "MaxAttempts": 400}


def function_arn(name: str, qualifier: str | None = None, region: str = REGION) -> str:
    base = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{name}"
    return base if qualifier is None else f"{base}:{qualifier}"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def new_function(
    client: Any, prefix: str, publish: bool = False, code: bytes | None = None, **config: Any
) -> str:
    """A new Active python function with a unique name (its `app.handler` from `code`, a
    zip, or one that echoes its event); returns the name."""
    name = unique(prefix)
    client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": code or handler_zip(name)},
        Publish=publish,
        **config,
    )
    wait_active(client, name)
    return name


def allow_events(
    client: Any, name: str, rule_arn: str | None = None, qualifier: str | None = None
) -> None:
    """Let the event bus invoke function `name` (or its `qualifier`) for the rule
    `rule_arn` (any rule when None), as `aws lambda add-permission` does on AWS."""
    source = {} if rule_arn is None else {"SourceArn": rule_arn}
    client.add_permission(
        FunctionName=name,
        StatementId=unique("events"),
        Action="lambda:InvokeFunction",
        Principal="events.amazonaws.com",
        **source,
        **({} if qualifier is None else {"Qualifier": qualifier}),
    )


def wait_active(client: Any, name: str) -> None:
    client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=FAST_WAIT)


def wait_updated(client: Any, name: str) -> None:
    client.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=FAST_WAIT)


def wait_provisioned(
    client: Any, name: str, qualifier: str, timeout_s: float = 30.0
) -> dict[str, Any]:
    """The provisioned concurrency config once it is no longer IN_PROGRESS (or at the
    deadline, as it is then: the caller asserts the status it expects)."""
    deadline = time.monotonic() + timeout_s
    while True:
        config: dict[str, Any] = client.get_provisioned_concurrency_config(
            FunctionName=name, Qualifier=qualifier
        )
        if config["Status"] != "IN_PROGRESS" or time.monotonic() > deadline:
            return config
        time.sleep(0.05)


def code_and_message(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    """(code, message) of a ClientError."""
    code, message, _ = error_of(exc)
    return code, message


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    """(code, message, HTTP status) of a ClientError."""
    response = exc.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )
