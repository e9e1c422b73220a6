from __future__ import annotations

import json

from lambdad.runtimes import RESERVED_VARIABLES, lambda_environment
from lambdad.runtimes.outcomes import exit_reason, runtime_exit_error, timeout_error


def build(**kw: object) -> dict[str, str]:
    args: dict[str, object] = {
        "function_name": "fn",
        "function_version": "1",
        "memory_mb": 512,
        "region": "eu-west-1",
        "log_group_name": "/aws/lambda/fn",
        "log_stream_name": "s",
        "runtime": "python3.12",
        "handler": "app.handler",
    }
    args.update(kw)
    return lambda_environment(**args)  # type: ignore[arg-type]


def test_reserved_variables() -> None:
    env = build(credentials={"AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "b"})
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "fn"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "1"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert env["LAMBDA_TASK_ROOT"] == "/var/task"
    assert env["LAMBDA_RUNTIME_DIR"] == "/var/runtime"
    assert env["_HANDLER"] == "app.handler"
    assert env["TZ"] == ":UTC" and env["LANG"] == "en_US.UTF-8"
    assert env["AWS_ACCESS_KEY_ID"] == "a" and "AWS_SESSION_TOKEN" not in env


def test_user_vars_cannot_override_reserved() -> None:
    env = build(user_variables={"AWS_REGION": "evil", "MY_VAR": "1", "TZ": "Europe/Paris"})
    assert env["AWS_REGION"] == "eu-west-1"
    assert env["MY_VAR"] == "1"
    assert env["TZ"] == "Europe/Paris"  # unreserved: the user may set it
    assert "AWS_REGION" in RESERVED_VARIABLES and "TZ" not in RESERVED_VARIABLES


def test_provided_has_no_execution_env() -> None:
    assert "AWS_EXECUTION_ENV" not in build(runtime="provided.al2023")


def test_error_shapes() -> None:
    assert json.loads(timeout_error("r1", 3)) == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": "RequestId: r1 Error: Task timed out after 3.00 seconds",
    }
    error_type, payload = runtime_exit_error("r1", 1, None, oom=False)
    assert error_type == "Runtime.ExitError"
    assert json.loads(payload)["errorMessage"] == (
        "RequestId: r1 Error: Runtime exited with error: exit status 1"
    )
    error_type, payload = runtime_exit_error("r1", None, 9, oom=True)
    assert error_type == "Runtime.OutOfMemory"
    assert json.loads(payload)["errorMessage"].endswith("signal: killed")
    assert exit_reason(None, 11) == "signal: segmentation fault"
