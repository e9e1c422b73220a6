"""The warm path's numbers of one revision beside their floor, for A/B runs.

One `lambdad server` (the code of the interpreter that runs this: a venv of
another tree measures that tree) with a no-op Python function at 128 MB and at
1769 MB, and the bare uvicorn floor in the same run: sequential keep-alive
latency, closed-loop throughput at concurrency 1 and 4 (p50/p99), and the CPU
per invoke of the server, the in-sandbox init and runtime and the whole tree
(from /proc, as `profile_warm.py` reads it) at concurrency 1. Prints Markdown
rows; writes nothing.

    .venv/bin/python bench/warm_ab.py [--seconds 4] [-n 300]
    other-tree/.venv/bin/python bench/warm_ab.py   # the same bench, that tree's server
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess

from harness import FloorServer, LambdadServer
from measure import closed_loop, sequential_posts
from profile_warm import TICK_US, tree_cpu
from run import deploy, invoke_path, lambda_client, warm_up

SIZES = (128, 1769)


def revision() -> str:
    import lambdad

    try:
        out = subprocess.run(
            ["git", "-C", os.path.dirname(lambdad.__file__), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return "?"
    return out.stdout.strip()


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="per closed loop")
    parser.add_argument("-n", type=int, default=300, help="sequential requests")
    args = parser.parse_args()
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    rows: list[str] = []
    with LambdadServer() as server:
        assert server.proc is not None
        client = lambda_client(server.url)
        for size in SIZES:
            deploy(client, f"ab-{size}", size)
        for size in SIZES:
            path = invoke_path(f"ab-{size}")
            warm_up(server.url, path, 50)
            lats, failed = sequential_posts(server.url, path, args.n)
            rows.append(
                f"| sequential, {size} MB | {statistics.median(lats):.2f} | {p(lats, 0.99):.2f}"
                f" | {failed} errors |"
            )
        for c in (1, 4):
            for size in SIZES:
                result = closed_loop(server.url, invoke_path(f"ab-{size}"), c, args.seconds)
                lats = result.latencies
                rows.append(
                    f"| c={c}, {size} MB: {result.per_second:.0f} inv/s | "
                    f"{statistics.median(lats):.2f} | {p(lats, 0.99):.2f} | "
                    f"{result.errors} errors |"
                )
        before = tree_cpu(server.proc.pid)
        result = closed_loop(server.url, invoke_path("ab-1769"), 1, args.seconds * 2)
        after = tree_cpu(server.proc.pid)
        by_role: dict[str, float] = {}
        for pid, (role, user, kernel) in after.items():
            _, user0, kernel0 = before.get(pid, (role, 0, 0))
            spent = (user - user0 + kernel - kernel0) * TICK_US / max(result.ok, 1)
            by_role[role] = by_role.get(role, 0.0) + spent
        sandbox = by_role.get("init", 0.0) + by_role.get("runtime", 0.0)
        cpu_row = (
            f"CPU µs per invoke at c=1 (1769 MB, {result.ok} invokes): server "
            f"{by_role.get('server', 0.0):.0f}, init + runtime {sandbox:.0f}, "
            f"whole tree {sum(by_role.values()):.0f}"
        )
    with FloorServer() as floor:
        warm_up(floor.url, "/", 50)
        lats, _ = sequential_posts(floor.url, "/", args.n)
        median = statistics.median(lats)
        rows.append(f"| floor: sequential | {median:.2f} | {p(lats, 0.99):.2f} | |")
        for c in (1, 4):
            result = closed_loop(floor.url, "/", c, args.seconds)
            lats = result.latencies
            rows.append(
                f"| floor: c={c}: {result.per_second:.0f} req/s | "
                f"{statistics.median(lats):.2f} | {p(lats, 0.99):.2f} | |"
            )
    print(
        f"revision {revision()}, load average at start {load}, at end "
        + " ".join(f"{x:.1f}" for x in os.getloadavg())
    )
    print("| | p50 ms | p99 ms | |\n|---|---:|---:|---|")
    print("\n".join(rows))
    print(cpu_row)


if __name__ == "__main__":
    main()
