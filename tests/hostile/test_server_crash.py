"""kill -9 of the server while environments are frozen leaves nothing behind, within seconds.

Frozen tasks (cgroup v1 freezer) never act on the SIGKILL that --die-with-parent
sends them; the backend's supervisor, which outlives the server, must thaw and
kill them and free their cgroups, mounts, loop devices and work dirs without
waiting for a restart. A restart on the same data dir then works. With
`--workers N` (LAMBDAD_TEST_WORKERS) every process's own sandboxes are looked at:
each has its cgroup parent, state and work dirs (`LambdadServer.own_dirs`).
"""

from __future__ import annotations

import os
import select
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lambdad.sandbox.backend import usable_cgroup_layout
from lambdad.sandbox.cgroup import CgroupLayout
from lambdad.sandbox.reclaim import default_cgroup_parent
from support.marks import needs_sandbox
from support.server import ROLE, LambdadServer, boto3_client, reclaim_sandboxes
from support.waiting import wait_until
from support.zips import make_zip

pytestmark = needs_sandbox

ENVIRONMENTS = 3
RECLAIM_DEADLINE_S = 15.0
# Long enough that the concurrent invocations overlap and each gets its own environment.
HANDLER = "import time\ndef handler(event, context):\n    time.sleep(0.5)\n    return 'ok'\n"


def wait_for_nothing_left(list_left: Callable[[], list[str]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while left := list_left():
        if time.monotonic() > deadline:
            raise AssertionError(f"still there {timeout:.0f} s after the server died: {left}")
        time.sleep(0.05)


def sandbox_groups(layout: CgroupLayout, parents: list[str]) -> dict[str, list[Path]]:
    """controller -> the sandbox cgroups under every one of `parents`."""
    return {
        ctrl: sorted(d for parent in parents for d in (root / parent).glob("sbx-*") if d.is_dir())
        for ctrl, root in layout.roots.items()
    }


def frozen_groups(layout: CgroupLayout, parents: list[str]) -> list[Path]:
    if layout.version == 2:
        return [
            d
            for d in sandbox_groups(layout, parents)[""]
            if (d / "cgroup.freeze").read_text().strip() == "1"
        ]
    return [
        d
        for d in sandbox_groups(layout, parents)["freezer"]
        if (d / "freezer.state").read_text().strip() == "FROZEN"
    ]


def group_pids(layout: CgroupLayout, parents: list[str]) -> set[int]:
    pids: set[int] = set()
    for groups in sandbox_groups(layout, parents).values():
        for d in groups:
            pids.update(int(p) for p in (d / "cgroup.procs").read_text().split())
    return pids


def leftovers(
    data_dir: Path,
    own_dirs: list[Path],
    layout: CgroupLayout,
    parents: list[str],
    pidfds: list[int],
) -> list[str]:
    """Everything of the dead server's sandboxes that still exists."""
    left: list[str] = []
    alive = [fd for fd in pidfds if not select.select([fd], [], [], 0)[0]]
    if alive:
        left.append(f"{len(alive)} sandbox processes")
    groups = [root / parent for root in layout.roots.values() for parent in parents]
    left += [f"cgroup {group}" for group in groups if group.exists()]
    prefix = str(data_dir.resolve()) + "/"
    with open("/proc/self/mounts") as mounts:
        left += [f"mount {line.split()[1]}" for line in mounts if prefix in line]
    for backing in Path("/sys/block").glob("loop*/loop/backing_file"):
        try:
            if backing.read_text().startswith(prefix):
                left.append(f"loop device {backing.parent.parent.name}")
        except OSError:
            continue  # detached meanwhile
    for own in own_dirs:
        if (own / "environments").exists():
            left += [f"work dir {d}" for d in (own / "environments").iterdir()]
        if (own / "sandbox" / "disks").exists():
            left.append(f"disk images of {own}")
    return left


def invoke_concurrently(client: Any, name: str, count: int) -> list[str]:
    def one(_: int) -> str:
        response = client.invoke(FunctionName=name)
        assert "FunctionError" not in response
        body: bytes = response["Payload"].read()
        return body.decode()

    with ThreadPoolExecutor(count) as workers:
        return list(workers.map(one, range(count)))


def test_kill_9_with_frozen_environments_leaves_nothing(tmp_path: Path) -> None:
    layout = usable_cgroup_layout()
    assert layout is not None, "the sandbox backend needs cgroups here"
    data_dir = tmp_path / "data"
    server = LambdadServer(data_dir)
    own_dirs = server.own_dirs()
    parents = [default_cgroup_parent(own / "sandbox") for own in own_dirs]
    server.start()
    pidfds: list[int] = []
    try:
        assert server.backend == "bwrap", server.log()
        client = boto3_client(server.url)
        client.create_function(
            FunctionName="crash",
            Runtime="python3.12",
            Handler="app.handler",
            Role=ROLE,
            Code={"ZipFile": make_zip({"app.py": HANDLER})},
        )
        client.get_waiter("function_active_v2").wait(
            FunctionName="crash", WaiterConfig={"Delay": 0.05, "MaxAttempts": 400}
        )
        assert invoke_concurrently(client, "crash", ENVIRONMENTS) == ['"ok"'] * ENVIRONMENTS
        wait_until(
            lambda: len(frozen_groups(layout, parents)) >= ENVIRONMENTS,
            f"{ENVIRONMENTS} frozen environments",
        )
        pidfds = [os.pidfd_open(pid) for pid in group_pids(layout, parents)]
        assert len(pidfds) >= ENVIRONMENTS * 3  # bwrap, its pid 1, init, runtime per sandbox

        assert server.process is not None
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(timeout=10)
        server.process = None

        wait_for_nothing_left(
            lambda: leftovers(data_dir, own_dirs, layout, parents, pidfds),
            timeout=RECLAIM_DEADLINE_S,
        )
    finally:
        server.stop()
        for fd in pidfds:
            os.close(fd)
        reclaim_sandboxes(data_dir)  # never leave a failed run's sandboxes on the host

    with LambdadServer(data_dir) as again:
        client = boto3_client(again.url)
        assert invoke_concurrently(client, "crash", 1) == ['"ok"']
