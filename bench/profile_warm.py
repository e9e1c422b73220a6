"""Where the CPU of a warm invoke goes: per process, and inside the server.

Starts `lambdad server` the way `bench/run.py` does, deploys a no-op Python
function, warms it, then for each concurrency drives keep-alive invokes for a
fixed time twice: once plain, reading each process's CPU (utime + stime of
all its threads, from /proc/<pid>/stat) before and after, and once under a
`py-spy record --nonblocking --gil` of the server (sampling without stopping it,
only the thread holding the GIL: without `--gil` a thread waiting in uvloop's
epoll counts as busy in its Python caller, `Runner.run`), its
stacks folded into categories (each sample into exactly one, see `category`)
and into the hottest leaf frames.
Per-invoke CPU rather than latency: it stays steady on a loaded machine.

    .venv/bin/pip install py-spy   # not a project dependency; needs ptrace rights
    .venv/bin/python bench/profile_warm.py [--seconds 8] [--concurrency 1 4]

Writes its section of bench/RESULTS.md between its own markers.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from harness import LambdadServer
from measure import closed_loop, section_text, write_section
from run import deploy, invoke_path, lambda_client

RESULTS = Path(__file__).with_name("RESULTS.md")
START, END = "<!-- profile:start -->", "<!-- profile:end -->"
FUNCTION = "profile-noop"
MEMORY_MB = 1769
TICK_US = 1_000_000 / os.sysconf("SC_CLK_TCK")
PY_SPY_RATE = 250
TOP_LEAVES = 12
WARMUP_S = 2.0

# Server-side categories, each a (label, substrings of a py-spy frame "function (file:line)").
# A sample goes to the first SUBSYSTEM found anywhere in its stack (they are leaf-side work
# whoever calls them), else to the LAYER of its deepest frame that matches one: so every
# sample lands in exactly one category and the shares add up to 100%.
SUBSYSTEMS: list[tuple[str, tuple[str, ...]]] = [
    ("cgroup freezer thaw/freeze (write + state poll)", ("set_frozen",)),
    ("cgroup memory peak reset/read", ("memory_peak",)),
    ("store (SQLAlchemy, lambdad/store)", ("sqlalchemy/", "lambdad/store/")),
    ("logging", ("logging/",)),
    ("JSON encode/decode", ("json/",)),
    ("telemetry (log lines, REPORT)", ("lambdad/telemetry/",)),
    ("h11 parsing/serialising", ("h11/",)),
]
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "thread hops (worker threads, futures, loop wake-up)",
        ("threading.py", "queue.py", "futures/", "to_thread", "run_sync", "_write_to_self"),
    ),
    ("asyncio socket transports (send/recv)", ("asyncio/selector_events",)),
    ("uvicorn (h11 protocol glue)", ("uvicorn/",)),
    ("Starlette middleware", ("starlette/middleware",)),
    ("Starlette routing", ("starlette/routing",)),
    ("Starlette other (requests, responses)", ("starlette/",)),
    ("lambdad api/ (Invoke handler)", ("lambdad/api/",)),
    ("lambdad invoke/", ("lambdad/invoke/",)),
    ("lambdad pool/ + sandbox/", ("lambdad/pool/", "lambdad/sandbox/")),
    ("lambdad other", ("lambdad/",)),
    ("asyncio/anyio scheduling", ("asyncio/", "anyio/")),
]
OTHER = "other"
CATEGORIES = [label for label, _ in SUBSYSTEMS + LAYERS] + [OTHER]


def category(frames: list[str]) -> str:
    for label, needles in SUBSYSTEMS:
        if any(needle in frame for frame in frames for needle in needles):
            return label
    for frame in reversed(frames):
        for label, needles in LAYERS:
            if any(needle in frame for needle in needles):
                return label
    return OTHER


# ---- per-process CPU from /proc ------------------------------------------------------------


def _stat(pid: int) -> tuple[int, str, int, int] | None:
    """(ppid, comm, utime, stime in ticks) of a live process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), comm, int(fields[11]), int(fields[12])


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def tree_cpu(root: int) -> dict[int, tuple[str, int, int]]:
    """{pid: (role, user ticks, kernel ticks)} for root and all its descendants."""
    stats = {
        pid: s for pid in map(int, filter(str.isdigit, os.listdir("/proc"))) if (s := _stat(pid))
    }
    children: dict[int, list[int]] = {}
    for pid, (ppid, *_) in stats.items():
        children.setdefault(ppid, []).append(pid)
    out: dict[int, tuple[str, int, int]] = {}
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            _, comm, user, kernel = stats[pid]
            out[pid] = (role(pid, root, comm), user, kernel)
        todo.extend(children.get(pid, []))
    return out


def role(pid: int, root: int, comm: str) -> str:
    if pid == root:
        return "server"
    cmd = _cmdline(pid)
    if comm == "bwrap":
        return "bwrap"
    for word in ("launcher", "init", "bootstrap", "runtime"):
        if word in cmd:
            return {"bootstrap": "runtime"}.get(word, word)
    if " -I -S -c " in cmd:
        return "launcher (parked, for the next sandbox)"
    if " -I -c " in cmd:
        return "server helper (python -I -c)"
    return f"other ({comm})"


@dataclass
class CpuRun:
    concurrency: int
    invokes: int
    errors: int
    seconds: float
    by_role: dict[str, float]  # µs per invoke
    kernel_by_role: dict[str, float]  # the part of by_role spent in the kernel (stime)
    client_us: float


def measure_cpu(url: str, server_pid: int, concurrency: int, seconds: float) -> CpuRun:
    before = tree_cpu(server_pid)
    client_before = resource.getrusage(resource.RUSAGE_SELF)
    result = closed_loop(url, invoke_path(FUNCTION), concurrency, seconds)
    client_after = resource.getrusage(resource.RUSAGE_SELF)
    after = tree_cpu(server_pid)
    n = max(result.ok, 1)
    by_role: Counter[str] = Counter()
    kernel: Counter[str] = Counter()
    for pid, (name, user, sys_) in after.items():
        _, user0, sys0 = before.get(pid, (name, 0, 0))
        by_role[name] += (user - user0 + sys_ - sys0) * TICK_US / n
        kernel[name] += (sys_ - sys0) * TICK_US / n
    client_s = (client_after.ru_utime + client_after.ru_stime) - (
        client_before.ru_utime + client_before.ru_stime
    )
    return CpuRun(
        concurrency,
        result.ok,
        result.errors,
        result.duration_s,
        dict(by_role),
        dict(kernel),
        client_s * 1e6 / n,
    )


# ---- py-spy on the server ------------------------------------------------------------------


@dataclass
class Profile:
    concurrency: int
    samples: int
    idle: int
    shares: list[tuple[str, float]]
    leaves: list[tuple[str, float]]


# Leaf frames of a thread waiting for work: py-spy's idle filter misses some of them when it
# samples without stopping the process, so they are left out here.
# The freezer poll's `time.sleep` (leaf frame `_wait_for`) is such a wait too: latency, no CPU.
IDLE_LEAVES = ("select (selectors.py", "wait (threading.py", "_wait_for (")


def fold(raw: str) -> tuple[int, int, Counter[str], Counter[str]]:
    """(busy samples, idle samples, busy samples per category, per leaf frame) of py-spy's
    raw (folded) output."""
    total = idle = 0
    cats: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        if any(marker in frames[-1] for marker in IDLE_LEAVES):
            idle += n
            continue
        total += n
        cats[category(frames)] += n
        leaves[_short(frames[-1])] += n
    return total, idle, cats, leaves


def _short(frame: str) -> str:
    """`func (path/to/site-packages/pkg/mod.py:12)` -> `func (pkg/mod.py:12)`."""
    func, _, where = frame.partition(" (")
    for marker in ("site-packages/", "/lib/python3", "src/"):
        if marker in where:
            where = where.split(marker, 1)[1]
            where = where.split("/", 1)[1] if marker == "/lib/python3" else where
    return f"{func} ({where}"


def profile_server(url: str, server_pid: int, concurrency: int, seconds: float) -> Profile:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    out = Path(tempfile.mkdtemp(prefix="lambdad-profile-")) / "server.folded"
    argv = [py_spy, "record", "--nonblocking", "--gil", "--pid", str(server_pid)]
    argv += ["--format", "raw"]
    argv += ["--rate", str(PY_SPY_RATE), "--output", str(out), "--duration", str(int(seconds))]
    spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        closed_loop(url, invoke_path(FUNCTION), concurrency, seconds)
        _, err = spy.communicate(timeout=seconds + 60)
        if spy.returncode != 0 or not out.exists():
            raise RuntimeError(f"py-spy failed: {err.decode(errors='replace')[-500:]}")
        total, idle, cats, leaves = fold(out.read_text())
    finally:
        if spy.poll() is None:
            spy.kill()
            spy.wait()
        shutil.rmtree(out.parent, ignore_errors=True)
    share = 100 / max(total, 1)
    return Profile(
        concurrency,
        total,
        idle,
        [(label, cats[label] * share) for label in CATEGORIES],
        [(leaf, n * share) for leaf, n in leaves.most_common(TOP_LEAVES)],
    )


# ---- report --------------------------------------------------------------------------------


def render(command: str, load: str, cpu: list[CpuRun], profiles: list[Profile]) -> str:
    roles = sorted({r for run in cpu for r in run.by_role}, key=lambda r: -cpu[0].by_role.get(r, 0))
    conc = " | ".join(f"c={run.concurrency}" for run in cpu)
    rows = [
        f"No-op Python function, {MEMORY_MB} MB, warm, keep-alive client on the same host; "
        f"load average before the run: {load}. CPU µs per invoke from /proc (utime + stime; "
        "in brackets the stime part, in the kernel):",
        "",
        f"| process | {conc} |",
        "|---|" + "---:|" * len(cpu),
    ]
    for r in roles:
        cells = [f"{x.by_role.get(r, 0):,.0f} ({x.kernel_by_role.get(r, 0):,.0f})" for x in cpu]
        rows.append(f"| {r} | " + " | ".join(cells) + " |")
    rows.append(
        "| **whole tree** | "
        + " | ".join(f"**{sum(run.by_role.values()):,.0f}**" for run in cpu)
        + " |"
    )
    rows.append(
        "| client (load generator) | " + " | ".join(f"{r.client_us:,.0f}" for r in cpu) + " |"
    )
    rows.append(
        "| invokes / errors / s | "
        + " | ".join(f"{r.invokes} / {r.errors} / {r.seconds:.1f}" for r in cpu)
        + " |"
    )
    if profiles:
        pconc = " | ".join(f"c={p.concurrency}" for p in profiles)
        rows += [
            "",
            f"Server hotspots, py-spy `--nonblocking --gil` at {PY_SPY_RATE} Hz, % of the samples "
            "of the server's thread holding the GIL (Python code, and C calls made with the GIL "
            "held: uvloop's own work and the system calls it makes, a socket write among them; "
            "idle = waiting in select, on a condition, or in the freezer poll's sleep):",
            "",
            f"| category | {pconc} |",
            "|---|" + "---:|" * len(profiles),
        ]
        for i, (label, _) in enumerate(profiles[0].shares):
            rows.append(
                f"| {label} | " + " | ".join(f"{p.shares[i][1]:.0f}%" for p in profiles) + " |"
            )
        rows.append(
            "| busy / idle samples | "
            + " | ".join(f"{p.samples} / {p.idle}" for p in profiles)
            + " |"
        )
        for p in profiles:
            rows += ["", f"Hottest leaf frames (self time), c={p.concurrency}:", ""]
            rows += [f"- {share:.1f}% `{leaf}`" for leaf, share in p.leaves]
    return section_text(START, END, "Where a warm invoke's CPU goes", command, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="per measurement")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--no-py-spy", action="store_true")
    args = parser.parse_args()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) + f" on {os.cpu_count()} CPUs"
    cpu: list[CpuRun] = []
    profiles: list[Profile] = []
    with LambdadServer() as server:
        assert server.proc is not None
        deploy(lambda_client(server.url), FUNCTION, MEMORY_MB)
        for c in args.concurrency:
            # at this concurrency first, so every environment the measurement uses is warm
            closed_loop(server.url, invoke_path(FUNCTION), c, WARMUP_S)
            cpu.append(measure_cpu(server.url, server.proc.pid, c, args.seconds))
            if not args.no_py_spy:
                profiles.append(profile_server(server.url, server.proc.pid, c, args.seconds))
    command = "python bench/profile_warm.py --seconds {:g} --concurrency {}".format(
        args.seconds, " ".join(map(str, args.concurrency))
    )
    section = render(command + (" --no-py-spy" if args.no_py_spy else ""), load, cpu, profiles)
    print(section)
    write_section(RESULTS, START, END, section)


if __name__ == "__main__":
    main()
