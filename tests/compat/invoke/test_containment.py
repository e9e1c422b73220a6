"""A function cannot hurt the host: forks, disk, files, processes and network stay inside.

Runs against a live server with the bwrap sandbox backend (printed and recorded
per test); skipped without root or bubblewrap.
"""

from __future__ import annotations

import errno
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from support.invoke import InvokeServer, create_function, invoke_json, probe_files
from support.waiting import wait_until

pytestmark = pytest.mark.compat

BOX_SOURCE = """
import os
import socket
import time

def fork_until_refused(marker):
    children = []
    try:
        for _ in range(5000):
            pid = os.fork()
            if pid == 0:
                try:
                    os.execv("/bin/sleep", [marker, "60"])
                finally:
                    os._exit(0)
            children.append(pid)
    except OSError as e:
        return {"forked": len(children), "errno": e.errno}
    return {"forked": len(children), "errno": None}

def fill_tmp():
    chunk = 8 << 20
    written = 0
    fd = os.open("/tmp/fill", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while written < (4 << 30):
            os.posix_fallocate(fd, written, chunk)
            written += chunk
        return {"errno": None, "written_mb": written >> 20}
    except OSError as e:
        return {"errno": e.errno, "written_mb": written >> 20}
    finally:
        os.close(fd)
        os.unlink("/tmp/fill")

def tmp_filesystem():
    for line in open("/proc/mounts"):
        fields = line.split()
        if fields[1] == "/tmp":
            return fields[2]
    return None

def try_read(path):
    try:
        if os.path.isdir(path):
            return {"listed": sorted(os.listdir(path))}
        with open(path, "rb") as f:
            return {"read": len(f.read())}
    except OSError as e:
        return {"error": type(e).__name__}

def handler(event, context):
    action = event["action"]
    if action == "fork":
        return fork_until_refused(event["marker"])
    if action == "fill":
        return {**fill_tmp(), "fs": tmp_filesystem()}
    if action == "read":
        return {path: try_read(path) for path in event["paths"]}
    if action == "proc":
        return sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    if action == "connect":
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", event["port"]))
            return "connected"
        except OSError as e:
            return "refused: %s" % e
        finally:
            s.close()
    return "unknown"
"""


@pytest.fixture(scope="module")
def box(lam: Any) -> str:
    return create_function(
        lam,
        "box",
        {"app.py": BOX_SOURCE},
        Timeout=10,
        MemorySize=128,
        EphemeralStorage={"Size": 512},
    )


@pytest.fixture(scope="module")
def neighbour(lam: Any) -> str:
    return create_function(lam, "box-neighbour", probe_files())


def stray_processes(marker: str) -> list[str]:
    found = subprocess.run(["pgrep", "-a", "-f", marker], capture_output=True, text=True)
    return found.stdout.splitlines()


def test_fork_bomb_is_contained(lam: Any, neighbour: str) -> None:
    name = create_function(lam, "box-forks", {"app.py": BOX_SOURCE}, Timeout=5)
    marker = f"lambdad-forkbomb-{uuid.uuid4().hex[:12]}"
    body, response = invoke_json(lam, name, {"action": "fork", "marker": marker})
    if "FunctionError" in response:
        assert body["errorType"] in ("Sandbox.Timedout", "Runtime.ExitError"), body
    else:
        assert body["errno"] in (errno.EAGAIN, errno.ENOMEM), body
    # The host is fine: another function still answers, and nothing is left behind.
    other, response = invoke_json(lam, neighbour, {"tag": "after-forks"})
    assert other["tag"] == "after-forks"
    wait_until(lambda: stray_processes(marker) == [], "the fork bomb's processes to be gone")


def test_filling_tmp_stops_at_ephemeral_storage(lam: Any, box: str) -> None:
    body, response = invoke_json(lam, box, {"action": "fill"})
    assert "FunctionError" not in response, body
    assert body["errno"] == errno.ENOSPC, body
    # Disk-backed, sized by EphemeralStorage: far past MemorySize (128), near 512 MB.
    assert 400 <= body["written_mb"] <= 520, body
    assert body["fs"] != "tmpfs", body


def test_host_files_are_out_of_reach(
    lam: Any, box: str, invoke_server: InvokeServer, tmp_path: Path
) -> None:
    secret = tmp_path / "host-secret.txt"
    secret.write_text("host secret")
    data_dir = invoke_server.data_dir.resolve()
    paths = ["/etc/shadow", str(data_dir), str(data_dir / "lambdad.db"), str(secret), "/home"]
    body, _ = invoke_json(lam, box, {"action": "read", "paths": [*paths, "/root"]})
    for path in paths:
        assert "error" in body[path], (path, body[path])
    # /root may hold mount points for interpreters, never the host's own files.
    root = body["/root"]
    if "listed" in root:
        host_files = {p.name for p in Path("/root").iterdir() if p.is_file()}
        assert not host_files & set(root["listed"]), root


def test_proc_shows_only_the_sandbox(lam: Any, box: str) -> None:
    pids, _ = invoke_json(lam, box, {"action": "proc"})
    assert 0 < len(pids) <= 10, pids
    assert max(pids) < 100, pids


def test_platform_port_is_unreachable(lam: Any, box: str, invoke_server: InvokeServer) -> None:
    result, _ = invoke_json(lam, box, {"action": "connect", "port": invoke_server.port})
    assert result.startswith("refused"), result
