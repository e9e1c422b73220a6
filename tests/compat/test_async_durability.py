"""An accepted async event survives a crash of the server (it runs after restart)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from support.marks import needs_sandbox
from support.server import ROLE, LambdadServer, boto3_client
from support.zips import make_zip

pytestmark = [
    pytest.mark.compat,
    *needs_sandbox,
]

SLOW_HANDLER = """
import time

def handler(event, context):
    time.sleep(1.0)
    print("done", event["n"], context.aws_request_id)
    return event
"""


def log_messages(url: str, name: str) -> list[str]:
    response = httpx.get(f"{url}/_lambdad/functions/{name}/logs", timeout=10)
    response.raise_for_status()
    return [event["message"] for event in response.json()["events"]]


def test_event_accepted_before_a_crash_runs_after_restart(
    tmp_path: Path, own_database_url: str | None
) -> None:
    data_dir = tmp_path / "data"
    first = LambdadServer(data_dir, own_database_url).start()
    try:
        client = boto3_client(first.url)
        client.create_function(
            FunctionName="slow",
            Runtime="python3.12",
            Role=ROLE,
            Handler="app.handler",
            Timeout=10,
            Code={"ZipFile": make_zip({"app.py": SLOW_HANDLER})},
        )
        client.get_waiter("function_active_v2").wait(
            FunctionName="slow", WaiterConfig={"Delay": 0.05, "MaxAttempts": 400}
        )
        accepted = client.invoke(FunctionName="slow", InvocationType="Event", Payload=b'{"n": 7}')
        assert accepted["StatusCode"] == 202
        request_id = accepted["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    finally:
        # A crash, not a shutdown: no chance to finish or hand anything over.
        assert first.process is not None
        first.process.kill()
        first.process.wait(timeout=10)

    with LambdadServer(data_dir, own_database_url) as second:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(m.startswith(f"done 7 {request_id}") for m in log_messages(second.url, "slow")):
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"the accepted event never ran after the restart:\n{second.log()}")
