"""The environment variables a function sees, as Lambda sets them.

`lambda_environment` builds Lambda's reserved variables plus the user's;
`runtime_defaults` holds the ones the runtime itself owns, which the execution
environment layers on top when it starts the runtime.
"""

from __future__ import annotations

from collections.abc import Mapping

TASK_ROOT = "/var/task"
RUNTIME_DIR = "/var/runtime"

RESERVED_VARIABLES = frozenset(
    {
        "_HANDLER",
        "_X_AMZN_TRACE_ID",
        "AWS_DEFAULT_REGION",
        "AWS_REGION",
        "AWS_EXECUTION_ENV",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_ACCESS_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_RUNTIME_API",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
    }
)
"""Keys Lambda does not let a function's configuration set (AWS's documented list)."""


def execution_env(runtime: str) -> str | None:
    """AWS_EXECUTION_ENV for a runtime id; custom runtimes (provided.*) have none."""
    if runtime.startswith("provided"):
        return None
    return f"AWS_Lambda_{runtime}"


def lambda_environment(
    *,
    function_name: str,
    function_version: str,
    memory_mb: int,
    region: str,
    log_group_name: str,
    log_stream_name: str,
    runtime: str,
    handler: str,
    credentials: Mapping[str, str] | None = None,
    user_variables: Mapping[str, str] | None = None,
    log_format: str | None = None,
    log_level: str | None = None,
) -> dict[str, str]:
    """Lambda's reserved variables with the user's on top; reserved keys stay Lambda's.

    `log_format` JSON (a LoggingConfig's) sets AWS_LAMBDA_LOG_FORMAT and
    AWS_LAMBDA_LOG_LEVEL (its ApplicationLogLevel, INFO by default), which the
    runtimes' loggers read, as on Lambda.

    `credentials` holds AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN.
    Reserved keys in `user_variables` are dropped: the API layer rejects them on
    create/update, this is the last line of defence.
    """
    env: dict[str, str] = {
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
    }
    env.update({k: v for k, v in (user_variables or {}).items() if k not in RESERVED_VARIABLES})
    env.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": function_version,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": log_group_name,
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream_name,
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "LAMBDA_TASK_ROOT": TASK_ROOT,
            "LAMBDA_RUNTIME_DIR": RUNTIME_DIR,
            "_HANDLER": handler,
        }
    )
    if log_format == "JSON":
        env["AWS_LAMBDA_LOG_FORMAT"] = "JSON"
        env["AWS_LAMBDA_LOG_LEVEL"] = log_level or "INFO"
    exec_env = execution_env(runtime)
    if exec_env:
        env["AWS_EXECUTION_ENV"] = exec_env
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        if credentials and credentials.get(key):
            env[key] = credentials[key]
    return env


def runtime_defaults(family: str, version: str) -> dict[str, str]:
    """PATH-like defaults of Lambda's images for a runtime family, used when the caller set none.

    `version` is the language version the runtime id names ("3.12", "20"), or "".
    """
    defaults = {
        "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
        "LD_LIBRARY_PATH": (
            "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib"
            ":/var/task:/var/task/lib:/opt/lib"
        ),
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
    }
    if family == "python":
        # AWS's value; the bootstrap puts /var/task and the layers' dirs first.
        defaults["PYTHONPATH"] = "/var/runtime"
    elif family == "node":
        defaults["NODE_PATH"] = (
            f"/opt/nodejs/node{version}/node_modules:/opt/nodejs/node_modules"
            ":/var/runtime/node_modules:/var/runtime:/var/task"
        )
    return defaults
