"""A live server keeps an environment ready for a runtime it cold-started, and the next
function of that runtime starts from it, as boto3 sees it: same answers, same REPORT."""

from __future__ import annotations

import base64
import io
import json
import re
import uuid
import zipfile
from typing import Any

import pytest

from support.marks import needs_sandbox, one_process
from support.server import ROLE, LambdadServer
from support.waiting import wait_until

pytestmark = [pytest.mark.compat, *needs_sandbox]

APP = """
import os
def handler(event, context):
    return {"name": os.environ["AWS_LAMBDA_FUNCTION_NAME"], "color": os.environ.get("COLOR"),
            "memory": context.memory_limit_in_mb, "files": sorted(os.listdir("/var/task"))}
"""


def _zip(source: str) -> bytes:
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", source)
    return code.getvalue()


def _deploy(client: Any, name: str, color: str) -> None:
    client.create_function(
        FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": _zip(APP)}, MemorySize=256,
        Environment={"Variables": {"COLOR": color}},
    )  # fmt: skip
    client.get_waiter("function_active_v2").wait(FunctionName=name)


@one_process
def test_the_next_function_of_a_runtime_starts_from_a_ready_environment(
    server: LambdadServer, lambda_client: Any
) -> None:
    first, second = (f"ready-{uuid.uuid4().hex[:8]}" for _ in range(2))
    _deploy(lambda_client, first, "red")
    _deploy(lambda_client, second, "blue")
    lambda_client.invoke(FunctionName=first, Payload=b"{}")
    # A cold start of python3.11 makes the server keep one ready (off the request path).
    wait_until(lambda: "parked for python3.11" in server.full_log(), "an environment parked for it")
    response = lambda_client.invoke(FunctionName=second, Payload=b"{}", LogType="Tail")
    assert "FunctionError" not in response
    assert json.load(response["Payload"]) == {
        "name": second, "color": "blue", "memory": "256", "files": ["app.py"],
    }  # fmt: skip
    tail = base64.b64decode(response["LogResult"]).decode()
    assert re.search(r"REPORT RequestId: \S+\tDuration: .*\tInit Duration: [\d.]+ ms", tail)
    line = wait_until(
        lambda: re.search(rf"cold start of {second}:\$LATEST .*", server.full_log()),
        "the server's line on that cold start",
    )
    assert "ready environment: yes" in line.group(0)
