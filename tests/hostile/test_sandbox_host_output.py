"""A function that writes to the server's own output through another process's fds.

bwrap's reaper (the sandbox's pid 1) and init inherited the server's
stdout/stderr. Reopening them through /proc/PID/fd/N would let a function
write into the server's log (forged lines, a full disk). Init is not dumpable
(its /proc/PID/fd is closed to the function), and the reaper's are reopened as
the sandbox's host uid, which owns neither the server's log nor its terminal.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from support.hostile import sandbox_server
from support.invoke import InvokeServer, create_function, invoke_json

SOURCE = """
import os


def handler(event, context):
    reached = {}
    for pid in sorted(p for p in os.listdir("/proc") if p.isdigit()):
        if int(pid) == os.getpid():
            continue
        for fd in ("0", "1", "2"):
            try:
                with open(f"/proc/{pid}/fd/{fd}", "w") as f:
                    f.write(event["marker"] + "\\n")
                reached[f"{pid}/{fd}"] = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                pass
    return {"reached": reached}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InvokeServer]:
    with sandbox_server(tmp_path_factory, "output") as running:
        yield running


def test_the_server_output_is_out_of_reach(server: InvokeServer) -> None:
    lam = server.client()
    create_function(lam, "writer", {"app.py": SOURCE})
    marker = f"forged-{uuid.uuid4().hex}"
    body, response = invoke_json(lam, "writer", {"marker": marker})
    assert "FunctionError" not in response, body
    result: dict[str, Any] = body
    assert set(result["reached"].values()) <= {"/dev/null"}, result
    assert marker not in server.full_log()
