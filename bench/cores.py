"""Throughput from one core to every core: invokes/s and CPU per invoke, beside the floor.

    .venv/bin/python bench/cores.py [--seconds 4] [--concurrency 1 4 16] [--server-arg ARG ...]

For each CPU set (one core, then every core of the host) it starts, pinned with
`taskset` (sandboxes inherit the server's affinity, so the whole tree stays on
the set):

1. the bare uvicorn app (the HTTP floor, see harness.py);
2. one `lambdad server` (plus any `--server-arg`s, e.g. a later
   `--invoke-workers K`), with a no-op Python function at 1769 MB;
3. on every core only: one independent plain `lambdad server` per core, each
   pinned to its own core with its own data dir and function, the load split evenly
   across them. Nothing is shared, so no split of one server into processes (front and
   workers, or anything else) can beat it on this host: it is the ceiling of
   "use every core", measured, not a product mode.

Each row drives keep-alive invokes in a closed loop after a warm-up at the same
number of connections, and reads the CPU (utime + stime) of every process in the
server's tree from /proc before and after. The load generator is wrk when it is
installed (Debian's `wrk`, `apt-get install wrk`: a few µs of CPU per request, so
the cores go to the server), else the bench's own Python clients
(`--client python`, several hundred µs per request). It is not pinned: it runs on
whatever core is free, and its CPU per request is shown too.

Writes its section of bench/RESULTS.md between `<!-- cores:start -->` markers.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from botocore.auth import UNSIGNED_PAYLOAD, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from harness import FloorServer, LambdadServer, key_for
from measure import LoadResult, closed_loop, section_text, write_section
from profile_warm import TICK_US, tree_cpu
from run import deploy, git_revision, invoke_path, lambda_client, machine, warm_up

RESULTS = Path(__file__).with_name("RESULTS.md")
START, END = "<!-- cores:start -->", "<!-- cores:end -->"
FUNCTION = "cores-noop"
MEMORY_MB = 1769
WARMUP_S = 2.0


class Pinned:
    """A mixin: the server's argv under `taskset -c CPUS` (inherited by every child)."""

    cpus: str

    def pin(self, argv: list[str]) -> list[str]:
        return ["taskset", "-c", self.cpus, *argv]


class PinnedFloor(FloorServer, Pinned):
    def __init__(self, cpus: str) -> None:
        super().__init__()
        self.cpus = cpus

    def argv(self) -> list[str]:
        return self.pin(super().argv())


class PinnedLambdad(LambdadServer, Pinned):
    def __init__(self, cpus: str, args: tuple[str, ...] = ()) -> None:
        super().__init__(args)
        self.cpus = cpus

    def argv(self) -> list[str]:
        return self.pin(super().argv())


@dataclass
class Row:
    """One measurement: a setup at one concurrency."""

    setup: str
    concurrency: int
    invokes: int
    errors: str
    seconds: float
    server_us: float  # CPU per request, whole server tree(s)
    client_us: float  # CPU per request, the load generator

    @property
    def per_second(self) -> float:
        return self.invokes / self.seconds if self.seconds else 0.0


def _tree_ticks(pids: list[int]) -> dict[int, int]:
    out: dict[int, int] = {}
    for root in pids:
        out.update({pid: u + s for pid, (_, u, s) in tree_cpu(root).items()})
    return out


# wrk: POSTs the bench event on keep-alive connections; a 200 carrying a function error
# is counted apart (each thread's count read back in `done`, as wrk's own examples do).
WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = "{}"
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) failed = 0 end
function response(status, headers, body)
  for name, _ in pairs(headers) do
    if string.lower(name) == "x-amz-function-error" then failed = failed + 1 end
  end
end
function done(summary, latency, requests)
  local n = 0
  for _, thread in ipairs(threads) do n = n + thread:get("failed") end
  io.write(string.format("function errors: %d\\n", n))
end
"""


class _UnsignedPayload(SigV4QueryAuth):  # type: ignore[misc]
    """A presigned URL that leaves the body out of the signature (UNSIGNED-PAYLOAD, as
    AWS allows): wrk replays it with the event as the body."""

    def payload(self, request: AWSRequest) -> str:
        return UNSIGNED_PAYLOAD


def presigned(url: str, path: str) -> str:
    """`url + path`, presigned for an hour with the server's admin key (the floor: as is)."""
    key = key_for(url)
    if key is None:
        return url + path
    request = AWSRequest("POST", url + path)
    credentials = Credentials(key.access_key_id, key.secret_access_key)
    _UnsignedPayload(credentials, "lambda", "us-east-1", expires=3600).add_auth(request)
    return str(request.url)


@dataclass
class Driven:
    ok: int
    errors: str
    seconds: float


def drive_wrk(work: list[tuple[str, str, int]], seconds: float) -> Driven:
    """One wrk (one thread, `n` connections) per target, all at once."""
    script = Path(tempfile.mkdtemp(prefix="lambdad-bench-wrk-")) / "post.lua"
    script.write_text(WRK_SCRIPT)
    try:
        argv = ["wrk", "-t1", "--timeout", "30s", "-d", f"{max(1, round(seconds))}s"]
        argv += ["-s", str(script)]
        procs = [
            subprocess.Popen([*argv, "-c", str(n), presigned(url, path)], stdout=subprocess.PIPE)
            for url, path, n in work
        ]
        outs = [proc.communicate(timeout=seconds + 60)[0].decode() for proc in procs]
    finally:
        shutil.rmtree(script.parent, ignore_errors=True)
    ok = bad = 0
    longest = 0.0
    for out in outs:
        total = int(_field(r"(\d+) requests in", out))
        failed = int(_field(r"Non-2xx or 3xx responses: (\d+)", out, "0"))
        failed += int(_field(r"function errors: (\d+)", out))
        sockets = re.search(r"Socket errors: (.*)", out)
        bad += failed + (sum(map(int, re.findall(r"\d+", sockets.group(1)))) if sockets else 0)
        ok += total - failed
        rate = float(_field(r"Requests/sec:\s+([\d.]+)", out))
        longest = max(longest, total / rate if rate else seconds)
    return Driven(ok, str(bad), longest)


def _field(pattern: str, text: str, default: str | None = None) -> str:
    found = re.search(pattern, text)
    if found is None:
        if default is None:
            raise RuntimeError(f"wrk said nothing matching {pattern!r}:\n{text}")
        return default
    return found.group(1)


def drive_python(work: list[tuple[str, str, int]], seconds: float) -> Driven:
    """measure.closed_loop (httpx clients, one per thread) per target, all at once."""
    results: list[LoadResult] = []
    lock = threading.Lock()

    def drive(url: str, path: str, n: int) -> None:
        result = closed_loop(url, path, n, seconds)
        with lock:
            results.append(result)

    threads = [threading.Thread(target=drive, args=job) for job in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    errors = sum(r.errors for r in results)
    return Driven(
        sum(r.ok for r in results),
        "0" if not errors else ", ".join(r.error_summary() for r in results if r.errors),
        max(r.duration_s for r in results),
    )


def _client_seconds() -> float:
    """CPU used so far by this process and its waited-for children (the wrk runs)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def load(
    setup: str, targets: list[tuple[str, str]], pids: list[int], c: int, s: float, use_wrk: bool
) -> Row:
    """`c` connections split evenly over `targets` (url, path), `s` seconds, all at once."""
    shares = [c // len(targets) + (i < c % len(targets)) for i in range(len(targets))]
    work = [(url, path, n) for (url, path), n in zip(targets, shares, strict=True) if n]
    drive = drive_wrk if use_wrk else drive_python
    drive(work, WARMUP_S)  # every environment the measurement uses is warm
    before, client_before = _tree_ticks(pids), _client_seconds()
    driven = drive(work, s)
    after, client_after = _tree_ticks(pids), _client_seconds()
    n = max(driven.ok, 1)
    ticks = sum(t - before.get(pid, 0) for pid, t in after.items())
    return Row(
        setup,
        c,
        driven.ok,
        driven.errors,
        driven.seconds,
        ticks * TICK_US / n,
        (client_after - client_before) * 1e6 / n,
    )


@dataclass(frozen=True)
class Plan:
    concurrency: list[int]
    seconds: float
    use_wrk: bool


def floor_rows(cpus: str, label: str, plan: Plan) -> list[Row]:
    with PinnedFloor(cpus) as floor:
        assert floor.proc is not None
        pids = [floor.proc.pid]
        setup = f"bare uvicorn, {label}"
        return [
            load(setup, [(floor.url, "/")], pids, c, plan.seconds, plan.use_wrk)
            for c in plan.concurrency
        ]


def lambdad_rows(cpu_sets: list[str], label: str, args: tuple[str, ...], plan: Plan) -> list[Row]:
    """One lambdad server per CPU set, each with its function, the load split over them."""
    servers = [PinnedLambdad(cpus, args) for cpus in cpu_sets]
    try:
        for server in servers:
            server.start()
            deploy(lambda_client(server.url), FUNCTION, MEMORY_MB)
            warm_up(server.url, invoke_path(FUNCTION), 3)  # the first start, off the clock
        targets = [(server.url, invoke_path(FUNCTION)) for server in servers]
        pids = [server.proc.pid for server in servers if server.proc is not None]
        return [
            load(label, targets, pids, c, plan.seconds, plan.use_wrk)
            for c in plan.concurrency
            if c >= len(cpu_sets)
        ]
    finally:
        for server in servers:
            server.stop()


def render(command: str, facts: dict[str, str], rows: list[Row]) -> str:
    lines = [f"- **{k}:** {v}" for k, v in facts.items()]
    lines += [
        "",
        f"No-op Python function at {MEMORY_MB} MB, warm; the load generator (see above) is "
        "not pinned, so it shares the cores with the server. CPU per request: utime + stime "
        "of every process in the server's tree (server, sandboxes) from /proc, and of the load "
        "generator.",
        "",
        "| setup | connections | requests/s | errors | server tree CPU µs / request "
        "| client CPU µs / request |",
        "|---|---:|---:|---|---:|---:|",
    ]
    lines += [
        f"| {r.setup} | {r.concurrency} | {r.per_second:,.0f} | {r.errors} "
        f"| {r.server_us:,.0f} | {r.client_us:,.0f} |"
        for r in rows
    ]
    return section_text(START, END, "Throughput from one core to every core", command, lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="per row")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument(
        "--client",
        choices=["wrk", "python"],
        default="wrk" if shutil.which("wrk") else "python",
        help="the load generator (wrk when installed)",
    )
    parser.add_argument(
        "--server-arg", action="append", default=[], help="passed to `lambdad server`"
    )
    args = parser.parse_args()
    plan = Plan(args.concurrency, args.seconds, args.client == "wrk")
    cores = sorted(os.sched_getaffinity(0))
    extra = tuple(args.server_arg)
    named = " ".join(extra)
    facts = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        **machine(),
        "revision": git_revision(),
        "load generator": CLIENTS[args.client],
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    rows: list[Row] = []
    for cpus, label in (
        (str(cores[0]), "1 core"),
        (",".join(map(str, cores)), f"{len(cores)} cores"),
    ):
        print(f"{label} …", flush=True)
        rows += floor_rows(cpus, label, plan)
        rows += lambdad_rows([cpus], f"lambdad{' ' + named if named else ''}, {label}", extra, plan)
    if len(cores) > 1:
        print("one server per core …", flush=True)
        label = f"ceiling: {len(cores)} independent lambdad servers, one per core"
        rows += lambdad_rows([str(c) for c in cores], label, (), plan)
    facts["load average at end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    command = f"python bench/cores.py --seconds {args.seconds:g} --client {args.client}"
    command += " --concurrency " + " ".join(map(str, args.concurrency))
    command += "".join(f" --server-arg={a}" for a in extra)
    section = render(command, facts, rows)
    print(section)
    write_section(RESULTS, START, END, section)


CLIENTS = {
    "wrk": "wrk (one thread, `connections` keep-alive connections, POSTing the event to a "
    "presigned Invoke URL: SigV4 checked on every request, as with a signed header)",
    "python": "measure.closed_loop (httpx, one keep-alive client per connection, each in its "
    "thread, signing every request), in the bench's own process",
}


if __name__ == "__main__":
    main()
