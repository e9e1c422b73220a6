"""A function that forges frames on its runtime's private channel (to the host).

The built-in python runtime talks to the host over a socket in the function's
own process, so a function can find it and write anything on it.
Whatever it writes may break only its own environment: that one is destroyed
(never reused), its caller gets a `Runtime.` error with `Unhandled`, and the
server keeps serving.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from support.hostile import sandbox_server, wait_until_gone
from support.invoke import InvokeServer, create_function, invoke_json
from support.waiting import DEFAULT_TIMEOUT_S, wait_until

FORGER_SOURCE = """
import json
import os
import socket
import struct
import subprocess
import uuid

ENV_ID = uuid.uuid4().hex


def private_channel():
    for fd in range(3, 256):
        try:
            sock = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        if sock.family == socket.AF_UNIX:
            return sock
        sock.close()
    raise RuntimeError("no private channel")


def handler(event, context):
    if event.get("marker"):
        # Outlives the invocation unless the environment is destroyed.
        subprocess.Popen(["/bin/sleep", "600", event["marker"]], start_new_session=True)
    if "header" in event:
        header = event["header"]
        if isinstance(header, dict):
            header = {"request_id": context.aws_request_id, **header}
        raw = event.get("raw", json.dumps(header)).encode()
        body = event.get("body", "{}").encode()
        sizes = event.get("sizes", [len(raw), len(body)])
        private_channel().sendall(struct.pack(">II", *sizes) + raw + body)
    return {"env_id": ENV_ID}
"""

FORGERIES = {
    "error_type list": {"header": {"type": "error", "error_type": [1, 2]}},
    "error_type object": {"header": {"type": "error", "error_type": {"a": 1}}},
    "error_type huge": {"header": {"type": "error", "error_type": "E" * 300_000}},
    "request_id number": {"header": {"type": "error", "request_id": 7, "error_type": "X"}},
    "request_id list": {"header": {"type": "response", "request_id": ["x"]}},
    "header not an object": {"header": [1], "raw": "[1]"},
    "header not json": {"header": None, "raw": "{nope"},
    "unknown type": {"header": {"type": "explode"}},
    "type not a string": {"header": {"type": 5}},
    "body past every limit": {
        "header": {"type": "error"},
        "sizes": [30, 0xFFFF_FFF0],
    },
    "header past every limit": {"header": {"type": "next"}, "sizes": [0x7FFF_FFFF, 0]},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InvokeServer]:
    with sandbox_server(tmp_path_factory, "frames") as running:
        yield running


@pytest.fixture(scope="module")
def forger(server: InvokeServer) -> str:
    return create_function(server.client(), "forger", {"app.py": FORGER_SOURCE}, Timeout=10)


@pytest.mark.parametrize("forgery", list(FORGERIES.values()), ids=list(FORGERIES))
def test_forged_private_frame_poisons_only_its_environment(
    server: InvokeServer, forger: str, forgery: dict[str, Any]
) -> None:
    lam = server.client()
    first, _ = invoke_json(lam, forger)
    marker = f"lambdad-forger-{uuid.uuid4().hex[:12]}"

    body, response = invoke_json(lam, forger, {**forgery, "marker": marker})

    assert response["StatusCode"] == 200
    assert response.get("FunctionError") == "Unhandled", body
    assert body["errorType"].startswith("Runtime."), body
    assert response["ResponseMetadata"]["RequestId"] in body["errorMessage"], body
    # The environment was destroyed (its stray process with it), not left busy.
    wait_until_gone(marker)
    after, response = invoke_json(lam, forger)
    assert "FunctionError" not in response, after
    assert after["env_id"] != first["env_id"]


def test_a_forged_frame_between_invocations_fails_the_next_one(
    server: InvokeServer, forger: str
) -> None:
    """A frame sent after the handler returned: the invocation running when the host
    reads it gets the error, and the environment after it is a fresh one."""
    lam = server.client()
    source = FORGER_SOURCE + (
        "\nimport threading, time\n"
        "FORGED = []\n"
        "def late(event, context):\n"
        "    def send():\n"
        "        time.sleep(0.05)\n"
        "        handler({'header': {'type': 'error', 'error_type': [1]}}, context)\n"
        "    if not FORGED:\n"
        "        FORGED.append(threading.Thread(target=send))\n"
        "        FORGED[0].start()\n"
        "    return {'env_id': ENV_ID}\n"
    )
    name = create_function(lam, "late-forger", {"app.py": source}, handler="app.late")
    first, response = invoke_json(lam, name)
    assert "FunctionError" not in response
    deadline = time.monotonic() + DEFAULT_TIMEOUT_S
    body, response = invoke_json(lam, name)
    while "FunctionError" not in response and time.monotonic() < deadline:
        assert body["env_id"] == first["env_id"]
        body, response = invoke_json(lam, name)
    assert body["errorType"] == "Runtime.Unknown", body
    after, response = invoke_json(lam, name)
    assert "FunctionError" not in response and after["env_id"] != first["env_id"]


def test_each_environment_is_logged_as_destroyed_once(server: InvokeServer, forger: str) -> None:
    """A poisoned environment (and any destroyed before it) is logged as destroyed once."""
    lam = server.client()
    first, _ = invoke_json(lam, forger)
    _, response = invoke_json(lam, forger, FORGERIES["error_type list"])
    assert response.get("FunctionError") == "Unhandled"

    def destroyed() -> list[str]:
        lines = [line for line in server.full_log().splitlines() if ": destroyed (" in line]
        return [line.split("env ", 1)[1].split(":", 1)[0] for line in lines if "env " in line]

    envs = wait_until(destroyed, "a destroyed environment in the server log")
    assert len(envs) == len(set(envs)), envs


def test_forged_frames_leave_the_channel_protocol_intact(server: InvokeServer) -> None:
    """The fixtures' encoding matches the channel's: a well-formed frame is accepted."""
    lam = server.client()
    name = create_function(lam, "honest-forger", {"app.py": FORGER_SOURCE})
    header = {"type": "error", "error_type": "Custom.Error"}
    body, response = invoke_json(lam, name, {"header": header, "body": json.dumps({"a": 1})})
    # A well-formed error post for the current request is the function's own error.
    assert response.get("FunctionError") == "Unhandled"
    assert body == {"a": 1}


@pytest.mark.parametrize(
    "body",
    ["[" * 100_000 + "]" * 100_000, '{"errorMessage": ' + "[" * 50_000 + "]" * 50_000 + "}"],
    ids=["nested array", "nested errorMessage"],
)
def test_a_runtime_error_with_a_hostile_body_is_returned_as_is(
    server: InvokeServer, forger: str, body: str
) -> None:
    """A function may post its own error with a `Runtime.` type (the runtimes do); the
    host reads such bodies for its log lines, and must survive any JSON in them."""
    lam = server.client()
    header = {"type": "error", "error_type": "Runtime.Evil"}
    response = lam.invoke(
        FunctionName=forger, Payload=json.dumps({"header": header, "body": body}).encode()
    )
    assert response["StatusCode"] == 200 and response["FunctionError"] == "Unhandled"
    assert response["Payload"].read().decode() == body
