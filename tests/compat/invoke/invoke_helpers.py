"""Helpers for the Invoke tests: a live `lambdad server` subprocess, zips, invokes.

`InvokeServer` runs `lambdad server` with its own temporary data dir, waits
(bounded) until it answers, and always stops it: SIGTERM, then SIGKILL. It reads
the sandbox backend from the server's startup line (`sandbox backend bwrap`).

`tests/support/server.py` is not used for the server itself: it fixes the log
level at `warning` (which hides the backend line) and strips `LAMBDAD_*`
variables, and these tests need `--sandbox`, `--idle-timeout` and
`LAMBDAD_ASYNC_RETRY_BASE_S`.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config

from support.server import aws_env, free_port, lambdad_command

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


class InvokeServer:
    """One `lambdad server` subprocess with the flags and LAMBDAD_* variables given."""

    def __init__(self, data_dir: Path, args: list[str], env: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.args = args
        self.extra_env = env
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / "server.log"
        self.backend = "unknown"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> InvokeServer:
        self.port = free_port()
        args = ["server", "--host", "127.0.0.1", "--port", str(self.port)]
        args += ["--data-dir", str(self.data_dir), "--log-level", "info", *self.args]
        env = aws_env()
        for key in [k for k in env if k.startswith("LAMBDAD_")]:
            del env[key]
        env.update(self.extra_env)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                lambdad_command(*args), stdout=log, stderr=subprocess.STDOUT, env=env
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"lambdad server exited:\n{self.log()}")
            try:
                answer = httpx.get(f"{self.url}/2016-08-19/account-settings", timeout=1.0)
                if answer.status_code == 200:
                    found = re.search(r"sandbox backend (\w+)", self.log())
                    self.backend = found.group(1) if found else "unknown"
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"lambdad server did not answer in {STARTUP_TIMEOUT_S}s:\n{self.log()}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except FileNotFoundError:
            return ""

    def client(self) -> Any:
        config = Config(read_timeout=120, retries={"max_attempts": 0}, max_pool_connections=32)
        return boto3.client(
            "lambda",
            endpoint_url=self.url,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            region_name=REGION,
            config=config,
        )

    def log_events(self, function: str, after: int = 0) -> tuple[list[dict[str, Any]], int]:
        """lambdad's logs endpoint: (events after `after`, the id to continue from)."""
        answer = httpx.get(
            f"{self.url}/_lambdad/functions/{function}/logs", params={"after": after}, timeout=10
        )
        answer.raise_for_status()
        body = answer.json()
        return body["events"], int(body["nextAfter"])

    def wait_for_logs(
        self,
        function: str,
        done: Callable[[list[str]], bool],
        after: int = 0,
        timeout_s: float = 15.0,
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


def make_zip(files: dict[str, str], executable: tuple[str, ...] = ()) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = (0o100755 if name in executable else 0o100644) << 16
            archive.writestr(info, content)
    return buffer.getvalue()


def create_function(
    client: Any,
    name: str,
    files: dict[str, str],
    *,
    runtime: str = "python3.12",
    handler: str = "app.handler",
    executable: tuple[str, ...] = (),
    **config: Any,
) -> str:
    """Create `name` and wait until it is Active; returns the name."""
    client.create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=ROLE,
        Handler=handler,
        Code={"ZipFile": make_zip(files, executable)},
        **config,
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=WAIT)
    return name


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
