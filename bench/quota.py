"""A 128 MB function's CPU share under a stream of warm invokes (issue 13).

Starts `lambdad server` as `bench/run.py` does, deploys its python3.12 hello at
128 MB (7% of a core: 7.2 ms of CPU per 100 ms period) and for each concurrency
drives closed-loop keep-alive invokes, after a warm-up at that concurrency (which
makes the environments it wants). Around each measured window it reads, for the
function's environments (the server's sandbox cgroups with 128 MB's quota):
how many there are, the periods the kernel throttled them to their quota and for
how long (`cpu.stat`, cgroup v1 or v2), and the CPU of their processes
(`/proc/PID/task/*/schedstat`: pid 1 and the runtime), per invoke. That in-sandbox
CPU is what the function pays from its own quota on every invoke.

    .venv/bin/python bench/quota.py [--seconds 4] [--concurrency 1 4 16]

Prints a Markdown table (RESULTS.md's section is written with the A/B it was
part of).
"""

from __future__ import annotations

import argparse
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from harness import LambdadServer
from measure import closed_loop, pct
from run import deploy, invoke_path, lambda_client

from lambdad.sandbox.cgroup import CgroupLayout, detect_layout
from lambdad.sandbox.reclaim import default_cgroup_parent

FUNCTION = "quota-128"
MEMORY_MB = 128
QUOTA_US = 7236  # round(128 / 1769 * 100 ms): sandbox/cgroup.py's compute_limits


@dataclass
class Groups:
    """The function's environments' cgroups at one moment."""

    throttled: int = 0
    throttled_ms: float = 0.0
    cpu_ns: dict[int, tuple[str, int]] = field(default_factory=dict)
    """pid -> (process name, CPU ns so far), every process of every group."""
    names: set[str] = field(default_factory=set)


def stat_value(text: str, key: str) -> int:
    """`key`'s value in cpu.stat (here, not imported: the bench also measures older trees)."""
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    return 0


def quota_of(layout: CgroupLayout, group: Path) -> int | None:
    try:
        if layout.version == 1:
            return int((group / "cpu.cfs_quota_us").read_text())
        text = (group / "cpu.max").read_text().split()[0]
        return None if text == "max" else int(text)
    except (OSError, ValueError):
        return None


def process_cpu(pid: str) -> tuple[str, int]:
    stat = Path(f"/proc/{pid}/stat").read_text()
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    tasks = Path(f"/proc/{pid}/task")
    return name, sum(int((t / "schedstat").read_text().split()[0]) for t in tasks.iterdir())


def read_groups(layout: CgroupLayout, parent: Path) -> Groups:
    found = Groups()
    for group in parent.iterdir() if parent.is_dir() else ():
        if not group.is_dir() or quota_of(layout, group) != QUOTA_US:
            continue
        try:
            stat = (group / "cpu.stat").read_text()
            procs = (group / "cgroup.procs").read_text().split()
        except OSError:
            continue  # ended meanwhile
        found.names.add(group.name)
        found.throttled += stat_value(stat, "nr_throttled")
        if layout.version == 1:
            found.throttled_ms += stat_value(stat, "throttled_time") / 1e6
        else:
            found.throttled_ms += stat_value(stat, "throttled_usec") / 1e3
        for pid in procs:
            try:
                found.cpu_ns[int(pid)] = process_cpu(pid)
            except OSError:
                continue
    return found


def row(c: int, before: Groups, after: Groups, ok: int, per_s: float, p99: float) -> str:
    per_process: Counter[str] = Counter()
    for pid, (name, ns) in after.cpu_ns.items():
        if pid in before.cpu_ns:  # present all along: no Init of a new environment in it
            per_process[name] += ns - before.cpu_ns[pid][1]
    cpu = " / ".join(f"{name} {ns / 1e3 / ok:.0f}" for name, ns in sorted(per_process.items()))
    made = len(after.names - before.names)
    return (
        f"| {c} | {per_s:.0f} | {p99:.1f} | {len(after.names)} (+{made}) "
        f"| {after.throttled - before.throttled} "
        f"| {after.throttled_ms - before.throttled_ms:.0f} | {cpu} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="per measured window")
    parser.add_argument("--warmup", type=float, default=1.0, help="before each window")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    args = parser.parse_args()
    layout = detect_layout()
    if layout is None:
        raise SystemExit("no usable cgroup layout on this host")
    root = layout.roots["cpu" if layout.version == 1 else ""]
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print()
    print("| c | inv/s | p99 ms | environments (new) | throttled periods | throttled ms "
          "| in-sandbox CPU µs per invoke, by process |")  # fmt: skip
    print("|---:|---:|---:|---|---:|---:|---|")
    with LambdadServer() as server:
        parent = root / default_cgroup_parent(server.tmp / "data" / "sandbox")
        deploy(lambda_client(server.url), FUNCTION, MEMORY_MB)
        path = invoke_path(FUNCTION)
        for c in args.concurrency:
            closed_loop(server.url, path, c, args.warmup)
            before = read_groups(layout, parent)
            load = closed_loop(server.url, path, c, args.seconds)
            after = read_groups(layout, parent)
            print(
                row(c, before, after, load.ok, load.per_second, pct(load.latencies, 0.99)),
                flush=True,
            )
    print(f"\nload average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
