"""Per-uid kernel limits belong to one environment, and its rlimits are Lambda's.

The kernel counts inotify instances (and RLIMIT_NPROC, pending signals, message
queue bytes) per host uid. When every environment ran as one uid, a function
that took all 128 inotify instances made every other function get EMFILE.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from lambdad.sandbox.rlimits import LAMBDA_RLIMITS
from support.marks import needs_sandbox
from support.server import ROLE, LambdadServer, boto3_client
from support.zips import make_zip

pytestmark = needs_sandbox

HOG = """
import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
held = []

def handler(event, context):
    # Take inotify instances until the kernel refuses, and keep them.
    while len(held) < 4096:
        fd = libc.inotify_init()
        if fd < 0:
            return {"held": len(held), "errno": errno.errorcode[ctypes.get_errno()]}
        held.append(fd)
    return {"held": len(held), "errno": None}
"""

VICTIM = """
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)

def handler(event, context):
    fd = libc.inotify_init()
    if fd < 0:
        return {"ok": False, "errno": errno.errorcode[ctypes.get_errno()]}
    os.close(fd)
    return {"ok": True}
"""

LIMITS = """
import resource, subprocess

def handler(event, context):
    limits = {name: resource.getrlimit(getattr(resource, "RLIMIT_" + name))
              for name in event["names"]}
    shell = subprocess.run(["bash", "-c", "ulimit -n; ulimit -Hn; ulimit -u"],
                           capture_output=True, text=True, check=True).stdout.split()
    return {"limits": limits, "shell": shell}
"""


def deploy(client: Any, name: str, source: str) -> None:
    client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": make_zip({"app.py": source})},
    )
    client.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 400}
    )


def invoke(client: Any, name: str, event: Any = None) -> Any:
    response = client.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode())
    body = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, body
    return body


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with LambdadServer(tmp_path_factory.mktemp("uids") / "data") as server:
        assert server.backend == "bwrap", server.log()
        yield boto3_client(server.url)


def test_a_function_that_exhausts_inotify_leaves_others_theirs(client: Any) -> None:
    deploy(client, "hog", HOG)
    deploy(client, "victim", VICTIM)
    hogged = invoke(client, "hog")
    # The per-uid limit (fs.inotify.max_user_instances) stopped it, not the fd limit.
    assert hogged["errno"] == "EMFILE" and 0 < hogged["held"] < 1000, hogged
    # The hog's environment is still warm, holding every instance it could get.
    assert invoke(client, "victim") == {"ok": True}


def test_rlimits_inside_are_lambdas(client: Any) -> None:
    deploy(client, "limits", LIMITS)
    seen = invoke(client, "limits", {"names": sorted(LAMBDA_RLIMITS)})
    assert {k: tuple(v) for k, v in seen["limits"].items()} == dict(LAMBDA_RLIMITS)
    assert seen["shell"] == ["1024", "1024", "1024"]
