"""Cold start of a SnapStart version whose handler imports boto3, beside a fork's floor.

    .venv/bin/python bench/snapstart.py [--n 5]

Starts a `lambdad server` with a fresh data dir and deploys a python3.12
function with `SnapStart: {ApplyOn: PublishedVersions}` whose module imports
boto3. Each round publishes a new version (so no environment of it exists) and
invokes it once: the client waits for its cold start. Reported: the client's
latency of that first invoke, and the REPORT line's Init or Restore Duration.

The floor (root only): what a restore by fork could cost on this host. A
process with boto3 imported (the "template") is asked, n times, to fork a
child that moves into new mount, pid, network, IPC and UTS namespaces, mounts
a fresh tmpfs on /tmp and a fresh /proc there, reseeds `random` and answers
with a token from `os.urandom`; timed from the request to the answer. It runs
outside any sandbox and skips what a real restore adds (seccomp, capability
drop, a cgroup of its own, the runtime's channel): a lower bound, not lambdad.

Writes its section of bench/RESULTS.md between markers.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness import LambdadServer
from measure import pct, section_text, write_section
from provisioned import deploy_python, invoke_with_tail, new_version
from run import lambda_client

RESULTS = Path(__file__).with_name("RESULTS.md")
START, END = "<!-- snapstart:start -->", "<!-- snapstart:end -->"
SOURCE = "import boto3\n\ndef handler(event, context):\n    return {'hello': 'world'}\n"
TARGET_MS = 30.0
"""The issue's target for the p50 above."""
DURATION = re.compile(r"(Init|Restore) Duration: ([\d.]+) ms")

TEMPLATE = r"""
import ctypes, os, random, socket, sys
import boto3  # the Init a restore skips

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_REC, MS_PRIVATE, MS_NOSUID, MS_NODEV = 16384, 1 << 18, 2, 4
libc = ctypes.CDLL(None, use_errno=True)

def check(rc, what):
    if rc != 0:
        raise OSError(ctypes.get_errno(), what)

def plain(reply):
    random.seed()
    reply.send((1).to_bytes(4, "big") + os.urandom(16))
    os._exit(0)

def child(reply):
    flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS
    check(libc.unshare(flags), "unshare")
    check(libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "private /")
    if os.fork():  # the next child is pid 1 of the new pid namespace
        os._exit(0)
    check(libc.mount(b"tmpfs", b"/tmp", b"tmpfs", MS_NOSUID | MS_NODEV, b"size=512m"), "tmp")
    check(libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV, None), "proc")
    random.seed()
    reply.send(os.getpid().to_bytes(4, "big") + os.urandom(16))
    os._exit(0)

control = socket.socket(fileno=int(sys.argv[1]))
control.send(b"R")
while (mode := control.recv(1)) in (b"F", b"P"):
    pid = os.fork()
    if pid == 0:
        (child if mode == b"F" else plain)(control)
    os.waitpid(pid, 0)
"""


def first_invoke(lam: Any, name: str, qualifier: str) -> tuple[float, str]:
    """The invoke's latency in ms and its REPORT line's Init or Restore Duration."""
    lam.get_waiter("function_active_v2").wait(FunctionName=name, Qualifier=qualifier)
    elapsed, tail = invoke_with_tail(lam, name, qualifier)
    found = DURATION.search(tail)
    return elapsed, f"{found.group(1)} {float(found.group(2)):.0f} ms" if found else "none"


def measure_server(n: int) -> tuple[list[tuple[float, str]], list[dict[str, Any]]]:
    samples: list[tuple[float, str]] = []
    with LambdadServer() as server:
        lam = lambda_client(server.url, read_timeout=120)
        name = "bench-snapstart"
        deploy_python(lam, name, SOURCE, SnapStart={"ApplyOn": "PublishedVersions"})
        version = new_version(lam, name, -1)
        first_invoke(lam, name, version)  # the first also prepares the runtime's SDK
        for round_ in range(n):
            samples.append(first_invoke(lam, name, new_version(lam, name, round_)))
        shown = lam.list_versions_by_function(FunctionName=name)["Versions"][-1]["SnapStart"]
        print(f"sandbox backend: {server.sandbox_backend()}; SnapStart shown: {shown}")
    return samples, [shown]


def measure_fork_floor(n: int, mode: bytes) -> list[float] | None:
    """n forks of a boto3-initialised template: into fresh namespaces (mode b"F", root
    only), or plain ones (b"P"), answering from their copy of the process."""
    if os.geteuid() != 0:
        return None
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    proc = subprocess.Popen(
        [sys.executable, "-c", TEMPLATE, str(theirs.fileno())], pass_fds=(theirs.fileno(),)
    )
    theirs.close()
    try:
        ours.settimeout(60)
        if ours.recv(1) != b"R":
            return None
        times: list[float] = []
        tokens: set[bytes] = set()
        for _ in range(n + 1):
            started = time.perf_counter()
            ours.send(mode)
            answer = ours.recv(64)
            times.append((time.perf_counter() - started) * 1000)
            assert answer[:4] == (1).to_bytes(4, "big"), answer  # pid 1 of its own namespace
            tokens.add(answer[4:])
        assert len(tokens) == n + 1, "two forks drew the same os.urandom bytes"
        return times[1:]
    finally:
        ours.close()
        proc.wait(30)


def render(
    command: str,
    n: int,
    samples: list[tuple[float, str]],
    floors: dict[str, list[float] | None],
) -> str:
    latencies = [ms for ms, _ in samples]
    kinds = sorted({kind.split()[0] for _, kind in samples})
    rows = ["| cold start of a new version, handler imports boto3 | p50 ms | max ms | REPORT |"]
    rows.append("|---|---:|---:|---|")
    rows.append(
        f"| lambdad, SnapStart version (first invoke, client latency) "
        f"| {pct(latencies, 0.5):.0f} | {max(latencies):.0f} "
        f"| {', '.join(kinds)} Duration ({'; '.join(kind for _, kind in samples)}) |"
    )
    for what, floor in floors.items():
        if floor is not None:
            rows.append(f"| floor: {what} | {pct(floor, 0.5):.1f} | {max(floor):.1f} | – |")
    rows.append("")
    load, cores = os.getloadavg()[0], os.cpu_count()
    rows.append(f"Host load average at the end of the run: {load:.1f} on {cores} cores.")
    rows.append("")
    restored = all(kind.startswith("Restore") for _, kind in samples)
    target = "met" if restored and pct(latencies, 0.5) <= TARGET_MS else "NOT met"
    rows += [
        f"Target: a SnapStart version's cold start with boto3 imported ≤ {TARGET_MS:.0f} ms "
        f"p50 (client latency of its first invoke): {target}.",
        "",
        "How: PublishVersion starts the version's template (a sandbox like any other whose "
        "runtime runs Init and the before-snapshot hooks once, then waits for fork "
        "commands; `pool/snapstart.py`). A cold start asks it to fork: the child moves "
        "into new mount, pid, network, IPC and UTS namespaces, mounts its own /tmp, "
        "/dev/shm, /dev/pts and a fresh read-only /proc, remounts every other writable "
        "mount read-only, drops every capability, and reports; the host learns its pid "
        "from SCM_CREDENTIALS, checks it from /proc (capabilities, no_new_privs, seccomp, "
        "namespaces, mounts), moves it into a cgroup of its own with the function's "
        "limits, and releases it; it forks the runtime (after-restore hooks, reseeded "
        "`random`) and runs init's loop as pid 1 (`sandbox/restore.py`, "
        "`runtimes/bootstraps/python/restore.py`). Each template keeps one such child "
        "forked ahead, checked and in its cgroup, waiting for its variables (moving a "
        "process into a cgroup alone costs ~10 ms on this cgroup v1 host): a cold start "
        "hands it its variables and waits for the after-restore hooks. The REPORT line "
        "carries Restore Duration (from the cold start's fork or release to the runtime's "
        "first event); a round whose spare was not forked yet pays the fork.",
        "",
        "What the floors leave out and a restore adds: the host's checks, a cgroup of its "
        "own, the forwards' listeners and its channels (init's, and the runtime's own with its "
        "output pipe: the host talks to a restored runtime directly).",
        "",
        "The cost of this design: the template's Init runs with CAP_SYS_ADMIN and "
        "CAP_NET_ADMIN in its sandbox's own user namespace (no nested user namespace, the "
        "seccomp filter and no_new_privs kept), a wider kernel surface than a normal "
        "environment's Init. What it may leave behind is checked by the host before a "
        "template is kept (one thread, no other process) and before each child runs "
        "(no capability, its own namespaces, no writable mount it would share).",
    ]
    heading = f"SnapStart (python3.12, handler imports boto3, n = {n})"
    return section_text(START, END, heading, command, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5)
    args = parser.parse_args()
    samples, _ = measure_server(args.n)
    forks = max(args.n, 20)
    floors = {
        "plain fork of a boto3-initialised process, answer over a socket": measure_fork_floor(
            forks, b"P"
        ),
        "the same fork into new mount/pid/net/ipc/uts namespaces with a fresh /tmp and "
        "/proc (no sandbox, no cgroup)": measure_fork_floor(forks, b"F"),
    }
    section = render(f"python bench/snapstart.py --n {args.n}", args.n, samples, floors)
    print(section)
    write_section(RESULTS, START, END, section)
    print(f"wrote {RESULTS.name}")


if __name__ == "__main__":
    main()
