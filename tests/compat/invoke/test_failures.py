"""Timeouts and runtime crashes end one invocation, not the function or the server.

Runs against a live server with the bwrap sandbox backend (printed and recorded
per test); skipped without root or bubblewrap.
"""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest

from support.invoke import create_function, invoke_json, probe_files

pytestmark = pytest.mark.compat

CRASH_SOURCE = """
import os

def handler(event, context):
    action = event.get("action")
    if action == "loop":
        while True:
            pass
    if action == "exit":
        os._exit(3)
    if action == "kill":
        os.kill(os.getpid(), 9)
    if action == "allocate":
        block = bytearray(1024 ** 3)  # 1 GB at MemorySize=128
        return len(block)
    return {"ok": True, "pid": os.getpid()}
"""


@pytest.fixture(scope="module")
def looping(lam: Any) -> str:
    # 3 s, not Lambda's minimum of 1: its ordinary invocations must end in time on a busy host.
    return create_function(lam, "fail-timeout", {"app.py": CRASH_SOURCE}, Timeout=3)


@pytest.fixture(scope="module")
def crashing(lam: Any) -> str:
    return create_function(lam, "fail-crash", {"app.py": CRASH_SOURCE}, Timeout=15, MemorySize=128)


@pytest.fixture(scope="module")
def bystander(lam: Any) -> str:
    return create_function(lam, "fail-bystander", probe_files())


def assert_both_still_work(lam: Any, function: str, bystander: str) -> None:
    body, response = invoke_json(lam, function, {})
    assert "FunctionError" not in response, body
    assert body["ok"] is True
    other, response = invoke_json(lam, bystander, {"tag": "still-here"})
    assert "FunctionError" not in response, other
    assert other["tag"] == "still-here"


def test_timeout_is_sandbox_timedout_and_the_next_invoke_works(
    lam: Any, looping: str, bystander: str
) -> None:
    body, response = invoke_json(lam, looping, {"action": "loop"}, LogType="Tail")
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 3.00 seconds" in body["errorMessage"]
    assert_both_still_work(lam, looping, bystander)


def test_timeout_gets_a_fresh_environment(lam: Any, bystander: str) -> None:
    name = create_function(lam, "fail-timeout-fresh", probe_files(), Timeout=3)
    first, _ = invoke_json(lam, name, {})
    body, response = invoke_json(lam, name, {"action": "sleep", "seconds": 30})
    assert body["errorType"] == "Sandbox.Timedout"
    after, _ = invoke_json(lam, name, {})
    assert after["count"] == 1
    assert after["env_id"] != first["env_id"]


def test_exit_is_runtime_exit_error(lam: Any, crashing: str, bystander: str) -> None:
    body, response = invoke_json(lam, crashing, {"action": "exit"})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in body["errorMessage"]
    assert_both_still_work(lam, crashing, bystander)


def test_sigkill_is_runtime_exit_error(lam: Any, crashing: str, bystander: str) -> None:
    body, response = invoke_json(lam, crashing, {"action": "kill"})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert "signal: killed" in body["errorMessage"]
    assert_both_still_work(lam, crashing, bystander)


def test_out_of_memory_ends_the_invocation(lam: Any, crashing: str, bystander: str) -> None:
    body, response = invoke_json(lam, crashing, {"action": "allocate"}, LogType="Tail")
    assert response["FunctionError"] == "Unhandled", body
    assert body["errorType"] in ("Runtime.OutOfMemory", "Runtime.ExitError"), body
    tail = base64.b64decode(response["LogResult"]).decode()
    used = re.search(r"Max Memory Used: (\d+) MB", tail)
    assert used and int(used.group(1)) <= 128, tail
    assert_both_still_work(lam, crashing, bystander)
