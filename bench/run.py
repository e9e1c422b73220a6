"""lambdad's speed, each number beside its floor measured in the same run.

    .venv/bin/python bench/run.py [--quick]

Starts a `lambdad server` on a free loopback port with a fresh data dir, deploys
a python3.12 hello function at 128 MB and 1769 MB (one full vCPU on Lambda), and
measures through the public API:

1. cold start: an env-var change retires the warm environment, then one invoke
   (client-observed latency, and the REPORT line's Init Duration); floors: a bare
   fork+exec of the function's interpreter running `pass`, and the same under
   `bwrap --unshare-all`;
2. warm latency: sequential keep-alive invokes; floor: the same client against a
   bare uvicorn app on loopback;
3. throughput at concurrency 1/4/16 (closed loop, one keep-alive client per
   thread); floor: the same load against the bare uvicorn app.

Prints the tables and writes them to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import httpx
from harness import API, FloorServer, LambdadServer, key_for
from measure import (
    LoadResult,
    closed_loop,
    fork_exec,
    keepalive_client,
    pct,
    sequential_posts,
    timed,
)

from lambdad.runtimes import InterpreterCatalog

RUNTIME = "python3.12"
MEMORY_SIZES = (128, 1769)
CONCURRENCIES = (1, 4, 16)
FLOOR_EXEC_MIN_N = 20
HELLO = "def handler(event, context):\n    return {'hello': 'world'}\n"
INIT_DURATION = re.compile(r"Init Duration: ([\d.]+) ms")
RESULTS = Path(__file__).with_name("RESULTS.md")


def kept_sections() -> str:
    """The sections other benches wrote between `<!-- name:start -->` and `<!-- name:end -->`
    markers: this run rewrites its own tables, never theirs."""
    text = RESULTS.read_text() if RESULTS.exists() else ""
    blocks = re.finditer(r"<!-- ([\w-]+):start -->.*?<!-- \1:end -->", text, flags=re.S)
    return "".join(f"\n{block.group(0)}\n" for block in blocks)


@dataclass(frozen=True)
class Plan:
    cold_n: int
    warm_n: int
    load_s: float
    warmup_s: float

    @classmethod
    def of(cls, quick: bool) -> Plan:
        return cls(5, 100, 2.0, 0.5) if quick else cls(20, 500, 4.0, 1.0)


# ---- deploying through the API ------------------------------------------------------------


def lambda_client(url: str, read_timeout: float = 60.0, service: str = "lambda") -> Any:
    """A boto3 client (of Lambda, or `service`) that never retries (a retry would hide a
    failure from the numbers)."""
    config = botocore.config.Config(
        retries={"max_attempts": 0}, max_pool_connections=64, read_timeout=read_timeout
    )
    key = key_for(url)
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key.access_key_id if key else "bench",
        aws_secret_access_key=key.secret_access_key if key else "bench",
        config=config,
    )


def app_zip(source: str) -> bytes:
    """A deployment package with `source` as app.py."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("app.py", source)
    return buffer.getvalue()


def deploy(client: Any, name: str, memory_mb: int) -> None:
    client.create_function(
        FunctionName=name,
        Runtime=RUNTIME,
        Handler="app.handler",
        Role="arn:aws:iam::000000000000:role/lambda-role",
        Code={"ZipFile": app_zip(HELLO)},
        MemorySize=memory_mb,
        Timeout=10,
    )
    client.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )


def invoke_path(name: str) -> str:
    return f"{API}/{name}/invocations"


# ---- 1. cold start -------------------------------------------------------------------------


@dataclass
class ColdRun:
    memory_mb: int
    latencies: list[float]
    init_durations: list[float]
    not_cold: int


def retire_environment(client: Any, name: str, i: int) -> None:
    """Change an env var: the next invoke must start a new environment."""
    client.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"BENCH_COLD": str(i)}}
    )
    client.get_waiter("function_updated_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )


def invoke_with_tail(http: httpx.Client, name: str) -> tuple[float, float | None]:
    """One invoke: (client-observed ms, Init Duration ms or None if it was warm)."""
    t = time.perf_counter()
    response = http.post(invoke_path(name), content=b"{}", headers={"X-Amz-Log-Type": "Tail"})
    elapsed = (time.perf_counter() - t) * 1000
    if response.status_code != 200 or "x-amz-function-error" in response.headers:
        raise RuntimeError(f"invoke {name}: {response.status_code} {response.text[:300]}")
    tail = base64.b64decode(response.headers.get("x-amz-log-result", "")).decode(errors="replace")
    m = INIT_DURATION.search(tail)
    return elapsed, float(m.group(1)) if m else None


def bench_cold(client: Any, url: str, name: str, memory_mb: int, n: int) -> ColdRun:
    run = ColdRun(memory_mb, [], [], 0)
    with keepalive_client(url) as http:
        # Not measured: the first start of a runtime on a fresh data dir prepares it
        # (its bundled boto3, seconds, once per data dir), which is no cold start's cost.
        invoke_with_tail(http, name)
        for i in range(n):
            retire_environment(client, name, i)
            time.sleep(0.25)  # let the old environment's teardown finish, as between real starts
            elapsed, init_ms = invoke_with_tail(http, name)
            run.latencies.append(elapsed)
            if init_ms is None:
                run.not_cold += 1
            else:
                run.init_durations.append(init_ms)
    return run


def exec_floors(interpreter: str, n: int) -> dict[str, list[float]]:
    """Bare process starts of the function's interpreter, and of the server's (the init)."""
    server_python = os.path.realpath(sys.executable)
    floors = {
        "fork+exec `python -c pass` (function's interpreter)": fork_exec(
            [interpreter, "-c", "pass"], n
        ),
        "fork+exec `python -c pass` (server's interpreter)": fork_exec(
            [server_python, "-c", "pass"], n
        ),
    }
    if bwrap := shutil.which("bwrap"):
        argv = [bwrap, "--unshare-all", "--ro-bind", "/", "/", interpreter, "-c", "pass"]
        floors["`bwrap --unshare-all --ro-bind / / python -c pass`"] = fork_exec(argv, n)
    return floors


# ---- 2. warm latency and 3. throughput -------------------------------------------------------


def warm_up(url: str, path: str, n: int) -> None:
    _, failed = sequential_posts(url, path, n)
    if failed:
        raise RuntimeError(f"warm-up of {path}: {failed} of {n} failed")


def boto3_latencies(client: Any, name: str, n: int) -> list[float]:
    return timed(lambda: client.invoke(FunctionName=name, Payload=b"{}")["Payload"].read(), n)


def load_series(url: str, path: str, plan: Plan) -> dict[int, LoadResult]:
    """Throughput at each concurrency, after a warm-up at it (which creates the environments)."""
    out: dict[int, LoadResult] = {}
    for c in CONCURRENCIES:
        closed_loop(url, path, c, plan.warmup_s)
        out[c] = closed_loop(url, path, c, plan.load_s)
    return out


# ---- the report ------------------------------------------------------------------------------


def ms(x: float) -> str:
    return f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:.0f}"


def times(ours: float, floor: float) -> str:
    return f"{ours / floor:.1f}×" if floor > 0 else "–"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def cold_table(colds: list[ColdRun], floors: dict[str, list[float]]) -> str:
    base = pct(next(iter(floors.values())), 0.5)
    rows: list[list[str]] = []
    for run in colds:
        label = f"lambdad invoke after retire, {run.memory_mb} MB (client-observed)"
        if run.not_cold:
            label += f" — {run.not_cold} were not cold"
        rows.append(_cold_row(label, run.latencies, base))
        rows.append(
            _cold_row(f"  … its REPORT Init Duration, {run.memory_mb} MB", run.init_durations, base)
        )
    rows += [_cold_row(f"floor: {label}", values, base) for label, values in floors.items()]
    return table(["", "n", "p50 ms", "p90 ms", "max ms", "p50 ÷ fork+exec p50"], rows)


def _cold_row(label: str, values: list[float], base: float) -> list[str]:
    if not values:
        return [label, "0", "–", "–", "–", "–"]
    p50 = pct(values, 0.5)
    cells = [ms(p50), ms(pct(values, 0.9)), ms(max(values)), times(p50, base)]
    return [label, str(len(values)), *cells]


def warm_table(ours: dict[str, list[float]], floor: list[float]) -> str:
    f50, f99 = pct(floor, 0.5), pct(floor, 0.99)
    rows = []
    for label, values in [*ours.items(), ("floor: bare uvicorn app, same httpx client", floor)]:
        p50, p99 = pct(values, 0.5), pct(values, 0.99)
        rows.append([label, str(len(values)), ms(p50), ms(p99), times(p50, f50), times(p99, f99)])
    return table(["", "n", "p50 ms", "p99 ms", "p50 ÷ floor", "p99 ÷ floor"], rows)


def load_table(ours: dict[int, dict[int, LoadResult]], floor: dict[int, LoadResult]) -> str:
    rows = []
    for c in CONCURRENCIES:
        fl = floor[c]
        for memory_mb, series in ours.items():
            r = series[c]
            rows.append(
                [
                    str(c),
                    f"{memory_mb} MB",
                    f"{r.per_second:.0f}",
                    f"{fl.per_second:.0f}",
                    times(fl.per_second, r.per_second),
                    r.error_summary(),
                    ms(pct(r.latencies, 0.5)),
                    ms(pct(r.latencies, 0.99)),
                    ms(pct(fl.latencies, 0.5)),
                    ms(pct(fl.latencies, 0.99)),
                ]
            )
    header = [
        "concurrency",
        "function",
        "lambdad inv/s",
        "floor req/s",
        "floor ÷ ours",
        "errors",
        "p50 ms",
        "p99 ms",
        "floor p50 ms",
        "floor p99 ms",
    ]
    return table(header, rows)


def error_samples(ours: dict[int, dict[int, LoadResult]]) -> str:
    """One line per kind of error seen under load, with the first body or message."""
    lines = []
    for memory_mb, series in ours.items():
        for c, r in series.items():
            for key, sample in sorted(r.samples.items()):
                text = " ".join(sample.split())
                lines.append(f"- {memory_mb} MB, concurrency {c}, {key}: `{text}`")
    return "\n".join(lines)


# ---- the run ---------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    model = ""
    try:
        with open("/proc/cpuinfo") as f:
            model = next(
                (ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), ""
            )
    except OSError:
        pass
    return {
        "cores": f"{os.cpu_count()}" + (f" ({model})" if model else ""),
        "kernel": f"{platform.system()} {platform.release()}",
        "server Python": platform.python_version(),
    }


def python_version(executable: str) -> str:
    argv = [executable, "-c", "import platform; print(platform.python_version())"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout.strip()


def git_revision() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{rev} (with uncommitted changes)" if dirty else rev


def function_interpreter() -> str:
    choice = InterpreterCatalog.discover().choose(RUNTIME)
    if choice.interpreter is None:
        raise SystemExit(f"no interpreter for {RUNTIME}: {choice.error}")
    return str(choice.interpreter.executable)


def log_summary(log: str) -> str:
    """How many ERROR/WARNING lines the server logged, with the first ERROR's message."""
    lines = log.splitlines()
    errors = [ln for ln in lines if " ERROR " in ln]
    warnings = sum(" WARNING " in ln for ln in lines)
    for line in errors[:5]:
        print(f"server: {line}", file=sys.stderr)
    first = f"; first: `{errors[0].split(' ERROR ', 1)[1][:160]}`" if errors else ""
    return f"{len(errors)} ERROR and {warnings} WARNING lines{first}"


def measure_lambdad(plan: Plan, facts: dict[str, str]) -> dict[str, Any]:
    names = {m: f"hello-{m}" for m in MEMORY_SIZES}
    with LambdadServer() as server:
        facts["sandbox backend"] = server.sandbox_backend()
        client = lambda_client(server.url)
        for memory_mb, name in names.items():
            deploy(client, name, memory_mb)
        print("cold starts …", flush=True)
        colds = [bench_cold(client, server.url, names[m], m, plan.cold_n) for m in MEMORY_SIZES]
        print("warm latency …", flush=True)
        warm: dict[str, list[float]] = {}
        for memory_mb, name in names.items():
            warm_up(server.url, invoke_path(name), 20)
            lats, failed = sequential_posts(server.url, invoke_path(name), plan.warm_n)
            label = f"lambdad invoke, {memory_mb} MB, httpx keep-alive"
            warm[label + (f" ({failed} failed)" if failed else "")] = lats
        config, _ = sequential_posts(
            server.url, f"{API}/{names[MEMORY_SIZES[0]]}/configuration", plan.warm_n, "GET"
        )
        warm["(reference) lambdad GetFunctionConfiguration, no invoke"] = config
        boto = boto3_latencies(client, names[MEMORY_SIZES[0]], plan.warm_n)
        warm[f"(reference) same, {MEMORY_SIZES[0]} MB, via boto3 invoke()"] = boto
        print("throughput …", flush=True)
        loads = {m: load_series(server.url, invoke_path(n), plan) for m, n in names.items()}
        facts["server log"] = log_summary(server.log_text())
    return {"colds": colds, "warm": warm, "loads": loads}


def measure_floors(plan: Plan, interpreter: str) -> dict[str, Any]:
    print("floors …", flush=True)
    with FloorServer() as floor:
        warm_up(floor.url, "/", 20)
        http, _ = sequential_posts(floor.url, "/", plan.warm_n)
        loads = load_series(floor.url, "/", plan)
    exec_n = max(plan.cold_n, FLOOR_EXEC_MIN_N)  # cheap, so never fewer than this
    return {"exec": exec_floors(interpreter, exec_n), "http": http, "loads": loads}


def render(
    command: str, facts: dict[str, str], ours: dict[str, Any], floors: dict[str, Any], plan: Plan
) -> str:
    head = [f"- **{k}:** {v}" for k, v in facts.items()]
    samples = error_samples(ours["loads"])
    return "\n".join(
        [
            "# lambdad benchmarks",
            "",
            f"Produced by `{command}` (from the repo root, with the venv's interpreter).",
            "",
            *head,
            "",
            "## How to read this",
            "",
            HOW_TO_READ.format(load_s=plan.load_s, cold_n=plan.cold_n),
            "",
            f"## Cold start ({RUNTIME} hello, {plan.cold_n} per memory size)",
            "",
            cold_table(ours["colds"], floors["exec"]),
            "",
            "## Warm invoke latency (sequential)",
            "",
            warm_table(ours["warm"], floors["http"]),
            "",
            f"## Throughput (closed loop, {plan.load_s:g} s per row, a client per thread)",
            "",
            load_table(ours["loads"], floors["loads"]),
            "",
            *(["Errors seen under load (first of each kind):", "", samples, ""] if samples else []),
        ]
    )


HOW_TO_READ = """\
Every lambdad number sits beside a floor measured in the same run on the same box:
what the operating system and the HTTP stack cost with none of our code in them. The
ratio says how far we are from that floor (1.0× would be free). Cold start is measured
from the client: an env-var change retires the warm environment, we sleep 0.25 s
(teardown, spare refill), then time one invoke, which builds the sandbox, starts the
init and the runtime, imports the handler and runs it; *Init Duration* is the
server-side part of that, from the REPORT line. Its floors are a bare fork+exec of the
function's interpreter running `pass` (what any cold start must pay), the server's
interpreter (which runs the in-sandbox init), and the same under `bwrap
--unshare-all`. Warm latency and throughput use one httpx keep-alive client per thread
POSTing to the Invoke path, against a bare uvicorn app (the HTTP stack lambdad runs
on) as the floor; boto3's latency is shown only for reference (its signing and parsing
are not ours), and the GetFunctionConfiguration row is our API round trip without an
invoke, so the gap between it and the invoke rows is the invoke path itself (invoke,
pool, runtime, telemetry). The client threads run on the same cores as the server, so
at high concurrency both sides compete for CPU: compare ratios, not raw rates, across
machines. 128 MB functions get a proportional CPU share (1769 MB = one vCPU), which
shows at low memory. With n = {cold_n}, cold-start p90 is a rough tail. Other work on
the box (see the load average) adds noise to ours and the floors alike."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples, shorter loads")
    args = parser.parse_args()
    plan = Plan.of(args.quick)
    command = "python bench/run.py" + (" --quick" if args.quick else "")
    interpreter = function_interpreter()
    facts = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        **machine(),
        "function Python": f"{python_version(interpreter)} (runtime {RUNTIME})",
        "revision": git_revision(),
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    started = time.monotonic()
    ours = measure_lambdad(plan, facts)
    floors = measure_floors(plan, interpreter)
    facts["run time"] = f"{time.monotonic() - started:.0f} s"
    report = render(command, facts, ours, floors, plan)
    RESULTS.write_text(report + kept_sections())
    print(report)
    print(f"wrote {RESULTS.name}")


if __name__ == "__main__":
    main()
