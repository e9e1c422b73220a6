"""Helpers for the Invoke tests: a live `lambdad server` subprocess, zips, invokes.

`InvokeServer` runs `lambdad server` with its own temporary data dir, waits
(bounded) until it answers, and always stops it: SIGTERM, then SIGKILL. It reads
the sandbox backend from the server's startup line (`sandbox backend bwrap`).

The server itself is `tests/support/server.py`'s, run with the flags
(`--sandbox`, `--idle-timeout`) and LAMBDAD_* variables
(`LAMBDAD_ASYNC_RETRY_BASE_S`) each test module needs.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config

from support.server import LambdadServer, credentials_for, http_auth
from support.waiting import DEFAULT_TIMEOUT_S
from support.zips import make_zip

os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
REGION = "us-east-1"
STARTUP_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
WAIT = {"Delay": 0.1, "MaxAttempts": 300}


def bwrap_missing_reason() -> str | None:
    if os.geteuid() != 0:
        return "Invoke tests run functions in bwrap sandboxes with cgroups: they need root"
    if shutil.which("bwrap") is None:
        return "Invoke tests need bubblewrap (`bwrap` on PATH)"
    return None


class InvokeServer(LambdadServer):
    """A `lambdad server` subprocess with a boto3 client and the logs endpoint."""

    def __init__(self, data_dir: Path, args: list[str], env: dict[str, str]) -> None:
        super().__init__(data_dir, args=args, env=env)

    def client(self) -> Any:
        config = Config(read_timeout=120, retries={"max_attempts": 0}, max_pool_connections=32)
        key = credentials_for(self.url)
        return boto3.client(
            "lambda",
            endpoint_url=self.url,
            aws_access_key_id=key.access_key_id,
            aws_secret_access_key=key.secret_access_key,
            region_name=REGION,
            config=config,
        )

    def log_events(self, function: str, after: int = 0) -> tuple[list[dict[str, Any]], int]:
        """lambdad's logs endpoint: (events after `after`, the id to continue from)."""
        answer = httpx.get(
            f"{self.url}/_lambdad/functions/{function}/logs",
            params={"after": after},
            timeout=10,
            auth=http_auth(self.url),
        )
        answer.raise_for_status()
        body = answer.json()
        return body["events"], int(body["nextAfter"])

    def wait_for_logs(
        self,
        function: str,
        done: Callable[[list[str]], bool],
        after: int = 0,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> list[str]:
        """Poll (bounded) until `done(messages)`; returns the messages seen."""
        messages: list[str] = []
        deadline = time.monotonic() + timeout_s
        while True:
            events, after = self.log_events(function, after)
            messages += [e["message"] for e in events]
            if done(messages) or time.monotonic() > deadline:
                return messages
            time.sleep(0.1)


def create_function(
    client: Any,
    name: str,
    files: dict[str, str],
    *,
    runtime: str = "python3.12",
    handler: str = "app.handler",
    executable: tuple[str, ...] = (),
    role: str = ROLE,
    **config: Any,
) -> str:
    """Create `name` and wait until it is Active; returns the name."""
    client.create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=role,
        Handler=handler,
        Code={"ZipFile": make_zip(files, executable)},
        **config,
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=WAIT)
    return name


def allow_public(lam: Any, name: str, qualifier: str | None = None) -> None:
    """The two statements AWS requires before a NONE URL answers anyone."""
    where = {"Qualifier": qualifier} if qualifier else {}
    lam.add_permission(
        FunctionName=name,
        StatementId="url",
        Action="lambda:InvokeFunctionUrl",
        Principal="*",
        FunctionUrlAuthType="NONE",
        **where,
    )
    lam.add_permission(
        FunctionName=name,
        StatementId="invoke",
        Action="lambda:InvokeFunction",
        Principal="*",
        InvokedViaFunctionUrl=True,
        **where,
    )


def invoke_json(client: Any, name: str, event: Any = None, **kwargs: Any) -> tuple[Any, Any]:
    """(decoded payload, the whole boto3 response)."""
    response = client.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode(), **kwargs)
    return json.loads(response["Payload"].read() or b"null"), response


# One Python handler for most tests; the event's "action" picks what it does.
PROBE_SOURCE = """
import json
import os
import time
import uuid

COUNT = 0
ENV_ID = uuid.uuid4().hex  # one per execution environment (process)


def handler(event, context):
    global COUNT
    COUNT += 1
    action = event.get("action")
    print("probe action", action, "tag", event.get("tag"))
    if action == "fail":
        raise ValueError("probe failed on purpose")
    if action == "sleep":
        time.sleep(event["seconds"])
    client_context = context.client_context
    return {
        "count": COUNT,
        "env_id": ENV_ID,
        "tag": event.get("tag"),
        "version": VERSION,
        "context": {
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "custom": getattr(client_context, "custom", None),
        },
        "environ": dict(os.environ),
    }
"""


def probe_files(version: str = "v1") -> dict[str, str]:
    return {"app.py": f"VERSION = {version!r}\n" + PROBE_SOURCE}
