"""What a function learns about the host from its own mounts.

`/proc/self/mountinfo` names, for every mount, the directory of the host
filesystem it comes from. A bind mount of the code would name the data dir and
the code's hash; the staging dir and lambdad's install path would show too.
The sandbox's own mounts come from overlays named neutrally instead.
"""

from __future__ import annotations

import errno
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import lambdad
from support.hostile import sandbox_server
from support.invoke import InvokeServer, create_function, invoke_json
from support.zips import make_zip

SOURCE = """
import errno


def writable(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        return True
    except OSError as e:
        return e.errno


def handler(event, context):
    with open("/proc/self/mountinfo") as f:
        mountinfo = f.read()
    with open("/var/task/app.py") as f:
        code = f.read()
    return {
        "mountinfo": mountinfo,
        "code_readable": "mountinfo" in code,
        "tmp_writable": writable("/tmp/probe"),
        "task_writable": writable("/var/task/probe"),
    }
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InvokeServer]:
    with sandbox_server(tmp_path_factory, "mounts") as running:
        yield running


def test_mountinfo_names_no_host_path(server: InvokeServer) -> None:
    lam = server.client()
    create_function(lam, "mounts", {"app.py": SOURCE})
    body, response = invoke_json(lam, "mounts")
    assert "FunctionError" not in response, body
    assert body["code_readable"] and body["tmp_writable"] is True
    assert body["task_writable"] == errno.EROFS
    mountinfo: str = body["mountinfo"]
    code_sha = hashlib.sha256(make_zip({"app.py": SOURCE})).hexdigest()
    install = str(Path(lambdad.__file__).resolve().parent)
    data_dir = str(server.data_dir.resolve())
    for secret in (data_dir, str(server.data_dir.parent), code_sha, install, "lambdad-stage"):
        assert secret not in mountinfo, (secret, mountinfo)
    # The function's own mounts are still there, from neutral sources.
    targets = {line.split()[4] for line in mountinfo.splitlines()}
    assert {"/var/task", "/var/runtime", "/etc", "/opt", "/tmp"} <= targets, targets
