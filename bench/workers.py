"""`lambdad server --workers N` on every core, beside one process and the ceiling.

    .venv/bin/python bench/workers.py [--seconds 4] [--concurrency 4 16] [--rounds 2]

On every core of the host (pinned as bench/cores.py pins), in alternating rounds so
a change in the host's load hits each setup alike:

1. one `lambdad server` (one process);
2. `lambdad server --workers N` (N = the cores), one port;
3. the ceiling: N independent plain servers, one per core, the load split evenly
   (cores.py's row: nothing shared, so nothing that splits one server can beat it).

Each row: wrk's keep-alive invokes of a no-op Python function at 1769 MB after a
warm-up, and the CPU of every process in the server trees (primary, secondaries,
sandboxes) per invoke. With --workers, the primary accepts every connection and
gives each to the process with the fewest open ones (lambdad.workers.balance), so
4 connections are 2 + 2 and 16 are 8 + 8 in every round (until lambdad 752332a the
kernel picked by a hash of each connection, SO_REUSEPORT, and a round could put
all 4 on one process).

Writes its section of bench/RESULTS.md between `<!-- workers:start -->` markers.
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from pathlib import Path

from cores import CLIENTS, Plan, Row, lambdad_rows
from measure import section_text, write_section
from run import git_revision, machine

RESULTS = Path(__file__).with_name("RESULTS.md")
START, END = "<!-- workers:start -->", "<!-- workers:end -->"


def render(command: str, facts: dict[str, str], rows: list[Row]) -> str:
    lines = [f"- **{k}:** {v}" for k, v in facts.items()]
    lines += [
        "",
        "No-op Python function at 1769 MB, warm, on every core; wrk not pinned (it shares "
        "the cores). CPU per request: utime + stime of every process in the server trees "
        "(server processes and sandboxes) from /proc, and of wrk.",
        "",
        "| round | setup | connections | requests/s | errors | server tree CPU µs / request "
        "| client CPU µs / request |",
        "|---:|---|---:|---:|---|---:|---:|",
    ]
    lines += [
        f"| {r.setup.split(':', 1)[0]} | {r.setup.split(':', 1)[1]} | {r.concurrency} "
        f"| {r.per_second:,.0f} | {r.errors} | {r.server_us:,.0f} | {r.client_us:,.0f} |"
        for r in rows
    ]
    return section_text(START, END, "Every core: lambdad --workers N", command, lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="per row")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    plan = Plan(args.concurrency, args.seconds, use_wrk=True)
    cores = sorted(os.sched_getaffinity(0))
    every = ",".join(map(str, cores))
    n = len(cores)
    facts = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        **machine(),
        "revision": git_revision(),
        "load generator": CLIENTS["wrk"],
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    rows: list[Row] = []
    for round_ in range(1, args.rounds + 1):
        print(f"round {round_} …", flush=True)
        rows += lambdad_rows([every], f"{round_}:lambdad, one process", (), plan)
        workers = ("--workers", str(n))
        rows += lambdad_rows([every], f"{round_}:lambdad --workers {n}", workers, plan)
        label = f"{round_}:ceiling: {n} independent lambdad servers, one per core"
        rows += lambdad_rows([str(c) for c in cores], label, (), plan)
    facts["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    command = f"python bench/workers.py --seconds {args.seconds:g} --rounds {args.rounds}"
    command += " --concurrency " + " ".join(map(str, args.concurrency))
    section = render(command, facts, rows)
    print(section)
    write_section(RESULTS, START, END, section)


if __name__ == "__main__":
    main()
