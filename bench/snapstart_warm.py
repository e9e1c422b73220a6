"""Warm invokes of a SnapStart version's restored environment: CPU per invoke by process.

    .venv/bin/python bench/snapstart_warm.py [--seconds 8] [-n 300]
    other-tree/.venv/bin/python bench/snapstart_warm.py   # that tree's server, for A/B

One `lambdad server` (the code of the interpreter that runs this) with a no-op
python3.12 function with `SnapStart: {ApplyOn: PublishedVersions}` at 128 MB and
at 1769 MB; version 1 of each is published (its template made) and invoked
until warm, so every invoke below runs in an environment restored from the
template. Reported: sequential keep-alive latency (p50/p99) at each size, and
at concurrency 1 on the 1769 MB one the CPU per invoke (from /proc) of the
server, the restored environment's pid 1, its runtime and the whole process
tree. Prints Markdown rows; writes nothing.

A restored environment's pid 1 and runtime are both forks of the template's
runtime (the same command line): pid 1 is the one that is pid 1 of its own pid
namespace (NSpid).
"""

from __future__ import annotations

import argparse
import base64
import os
import statistics
from pathlib import Path
from typing import Any

from harness import API, LambdadServer
from measure import closed_loop, sequential_posts
from profile_warm import TICK_US, tree_cpu
from provisioned import deploy_python
from run import lambda_client, warm_up
from warm_ab import p, revision

SIZES = (128, 1769)
SOURCE = "def handler(event, context):\n    return {'hello': 'world'}\n"


def restored_role(pid: int, role: str) -> str:
    """`profile_warm`'s role, with a restored environment's pid 1 told from its runtime."""
    if role != "runtime":
        return role
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return role
    nspid = next((line.split()[1:] for line in status.splitlines() if line.startswith("NSpid")), [])
    if len(nspid) >= 3 and nspid[-1] == "1":
        return "restored pid 1"
    return "runtime" if len(nspid) >= 3 else "template"


def publish(lam: Any, name: str, memory_mb: int) -> str:
    deploy_python(
        lam, name, SOURCE, MemorySize=memory_mb, SnapStart={"ApplyOn": "PublishedVersions"}
    )
    version = str(lam.publish_version(FunctionName=name)["Version"])
    lam.get_waiter("function_active_v2").wait(FunctionName=name, Qualifier=version)
    config = lam.get_function_configuration(FunctionName=name, Qualifier=version)
    status = config["SnapStart"]["OptimizationStatus"]
    if status != "On":
        raise RuntimeError(f"{name}:{version}: SnapStart OptimizationStatus {status}")
    return version


def cpu_per_invoke(
    server: LambdadServer, path: str, seconds: float
) -> tuple[dict[str, float], int]:
    assert server.proc is not None
    root = server.proc.pid
    before = tree_cpu(root)
    result = closed_loop(server.url, path, 1, seconds)
    after = tree_cpu(root)
    by_role: dict[str, float] = {}
    for pid, (role, user, kernel) in after.items():
        _, user0, kernel0 = before.get(pid, (role, 0, 0))
        spent = (user - user0 + kernel - kernel0) * TICK_US / max(result.ok, 1)
        name = restored_role(pid, role)
        by_role[name] = by_role.get(name, 0.0) + spent
    return by_role, result.ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="of the CPU closed loop")
    parser.add_argument("-n", type=int, default=300, help="sequential requests per size")
    args = parser.parse_args()
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    rows: list[str] = []
    with LambdadServer() as server:
        lam = lambda_client(server.url)
        paths = {}
        for size in SIZES:
            name = f"snapwarm-{size}"
            version = publish(lam, name, size)
            paths[size] = f"{API}/{name}:{version}/invocations"
            tail = lam.invoke(FunctionName=name, Qualifier=version, LogType="Tail")
            if "Restore Duration" not in base64.b64decode(tail["LogResult"]).decode():
                raise RuntimeError(f"{name}:{version} was not restored")
        for size in SIZES:
            warm_up(server.url, paths[size], 50)
            lats, failed = sequential_posts(server.url, paths[size], args.n)
            rows.append(
                f"| sequential, {size} MB | {statistics.median(lats):.2f} | {p(lats, 0.99):.2f}"
                f" | {failed} errors |"
            )
        by_role, invokes = cpu_per_invoke(server, paths[1769], args.seconds)
    print(
        f"revision {revision()}, load average at start {load}, at end "
        + " ".join(f"{x:.1f}" for x in os.getloadavg())
    )
    print("| | p50 ms | p99 ms | |\n|---|---:|---:|---|")
    print("\n".join(rows))
    sandbox = by_role.get("restored pid 1", 0.0) + by_role.get("runtime", 0.0)
    print(
        f"CPU µs per invoke at c=1 (1769 MB, {invokes} invokes): server "
        f"{by_role.get('server', 0.0):.0f}, restored pid 1 "
        f"{by_role.get('restored pid 1', 0.0):.0f}, runtime {by_role.get('runtime', 0.0):.0f}, "
        f"in-sandbox {sandbox:.0f}, whole tree {sum(by_role.values()):.0f}"
    )
    others = {
        k: round(v) for k, v in by_role.items() if k not in ("server", "restored pid 1", "runtime")
    }
    print(f"other processes (µs per invoke): {others}")


if __name__ == "__main__":
    main()
