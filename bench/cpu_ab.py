"""CPU per warm invoke of two revisions, measured interleaved (A/B on a busy machine).

Starts one `lambdad server` per interpreter given (each runs the lambdad its venv
has: another tree's `.venv/bin/python` measures that tree; `--pythonpath DIR`
puts a copy of a `src/` first, e.g. a snapshot of a tree being edited), deploys
a no-op Python function (1769 MB) on each, warms them, then drives short
closed-loop windows at concurrency `-c` against each server in turn (the order
swapped every round), reading each process's CPU (utime + stime, from /proc, as
`profile_warm.py` does) before and after every window. Other work on the
machine inflates some windows more than others: interleaving puts both
revisions under the same load, and the median (and the minimum, the least
disturbed window) per revision is what the table shows.

    .venv/bin/python bench/cpu_ab.py --python ../main/.venv/bin/python \\
        --python .venv/bin/python [--rounds 10] [--seconds 2] [-c 1]

Prints Markdown rows; writes nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
from dataclasses import dataclass, field

from harness import LambdadServer
from measure import closed_loop
from profile_warm import FUNCTION, MEMORY_MB, measure_cpu
from run import deploy, invoke_path, lambda_client, warm_up


class ServerOf(LambdadServer):
    """`lambdad server` run by another interpreter (and `pythonpath` first on its path)."""

    def __init__(self, python: str, pythonpath: str | None) -> None:
        super().__init__()
        self.python = python
        self.pythonpath = pythonpath

    def argv(self) -> list[str]:
        return [self.python, *super().argv()[1:]]

    def env(self) -> dict[str, str]:
        env = super().env()
        if self.pythonpath:
            env["PYTHONPATH"] = self.pythonpath
        return env


@dataclass
class Windows:
    label: str
    server: list[float] = field(default_factory=list)
    sandbox: list[float] = field(default_factory=list)
    tree: list[float] = field(default_factory=list)
    rate: list[float] = field(default_factory=list)
    errors: int = 0


def window(server: LambdadServer, windows: Windows, concurrency: int, seconds: float) -> None:
    assert server.proc is not None
    run = measure_cpu(server.url, server.proc.pid, concurrency, seconds)
    windows.server.append(run.by_role.get("server", 0.0))
    windows.sandbox.append(run.by_role.get("init", 0.0) + run.by_role.get("runtime", 0.0))
    windows.tree.append(sum(run.by_role.values()))
    windows.rate.append(run.invokes / run.seconds)
    windows.errors += run.errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python", action="append", required=True, help="an interpreter")
    parser.add_argument(
        "--pythonpath", action="append", default=[], help="PYTHONPATH of the --python at its place"
    )
    parser.add_argument("--label", action="append", default=[])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=2.0, help="per window")
    parser.add_argument("-c", "--concurrency", type=int, default=1)
    args = parser.parse_args()
    paths = args.pythonpath + [""] * (len(args.python) - len(args.pythonpath))
    labels = args.label + [p for p in args.python[len(args.label) :]]
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    pairs = zip(args.python, paths, strict=True)
    servers = [ServerOf(python, path or None) for python, path in pairs]
    windows = [Windows(label) for label in labels]
    try:
        for server in servers:
            server.start()
            deploy(lambda_client(server.url), FUNCTION, MEMORY_MB)
            warm_up(server.url, invoke_path(FUNCTION), 50)
        for server in servers:  # every environment the windows use, warm
            closed_loop(server.url, invoke_path(FUNCTION), args.concurrency, 1.0)
        for n in range(args.rounds):
            order = list(range(len(servers)))
            if n % 2:
                order.reverse()
            for i in order:
                window(servers[i], windows[i], args.concurrency, args.seconds)
    finally:
        for server in servers:
            server.stop()
    end = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"c={args.concurrency}, {args.rounds} rounds of {args.seconds:g} s windows, "
        f"load average {load} at start, {end} at end; CPU µs per invoke, median (min):"
    )
    print("| revision | server | in sandbox | whole tree | invokes/s | errors |")
    print("|---|---:|---:|---:|---:|---:|")
    for w in windows:
        print(
            f"| {w.label} | {statistics.median(w.server):.0f} ({min(w.server):.0f}) "
            f"| {statistics.median(w.sandbox):.0f} ({min(w.sandbox):.0f}) "
            f"| {statistics.median(w.tree):.0f} ({min(w.tree):.0f}) "
            f"| {statistics.median(w.rate):.0f} | {w.errors} |"
        )
    for w in windows[1:]:
        # The same round's windows ran under about the same load: their difference is steadier.
        diffs = [b - a for a, b in zip(windows[0].server, w.server, strict=True)]
        print(
            f"server µs per invoke, {w.label} less {windows[0].label} in the same round: "
            f"median {statistics.median(diffs):+.0f}, rounds {' '.join(f'{d:+.0f}' for d in diffs)}"
        )


if __name__ == "__main__":
    main()
