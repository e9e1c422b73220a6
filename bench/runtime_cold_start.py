"""Cold start and warm latency of a python hello function, against bare baselines.

    .venv/bin/python bench/runtime_cold_start.py [--backend bwrap|process] [-n 20] [-w 500]
        [--memory 256] [--runtime-cache DIR [--import-boto3]]

`--runtime-cache` mounts the runtime's bundled SDK from that prepared cache (as a
server does); `--import-boto3` makes the function import boto3 at Init.

`--memory` is the function's memory size in MB; the sandbox's CPU share follows it
(128 MB gets ~7% of a core), so small sizes show the per-invoke CPU cost of init and runtime.

Baselines measured in the same run: fork+exec of the same interpreter (`python -c pass`),
and a bare loopback HTTP round trip (http.client to a ThreadingHTTPServer).
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import anyio
from measure import pct

from lambdad.pool.environment import ExecutionEnvironment
from lambdad.runtimes import EnvironmentSpec, InvokeRequest, lambda_environment
from lambdad.runtimes.interpreters import server_python
from lambdad.runtimes.prepare import RuntimeStore
from lambdad.sandbox import select_backend

HELLO = "def handler(event, context):\n    return {'hello': 'world'}\n"


def bare_exec(n: int) -> list[float]:
    exe = str(server_python().executable)
    out = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run([exe, "-c", "pass"], check=True)
        out.append((time.perf_counter() - t) * 1000)
    return out


def bare_http(n: int) -> list[float]:
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1])
    out = []
    for _ in range(n):
        t = time.perf_counter()
        conn.request("POST", "/", body=b"{}")
        conn.getresponse().read()
        out.append((time.perf_counter() - t) * 1000)
    server.shutdown()
    return out


def make_spec(root: Path, i: int, memory_mb: int, source: str = HELLO) -> EnvironmentSpec:
    code = root / "code"
    if not code.exists():
        code.mkdir()
        (code / "app.py").write_text(source)
        code.chmod(0o755)
        (code / "app.py").chmod(0o644)
    env = lambda_environment(
        function_name="hello", function_version="$LATEST", memory_mb=memory_mb, region="us-east-1",
        log_group_name="/aws/lambda/hello", log_stream_name="s", runtime="python3.11",
        handler="app.handler",
    )  # fmt: skip
    return EnvironmentSpec(
        env_id=f"bench{i}", function_name="hello", function_version="$LATEST",
        runtime="python3.11", handler="app.handler", code_dir=code, layer_dirs=(),
        memory_mb=memory_mb, ephemeral_storage_mb=512, environment=env, network="none",
        work_dir=root / f"work{i}",
    )  # fmt: skip


async def run(
    backend_name: str,
    n: int,
    warm: int,
    memory_mb: int,
    runtimes: RuntimeStore | None = None,
    source: str = HELLO,
) -> dict[str, list[float]]:
    backend = select_backend(backend_name)  # type: ignore[arg-type]
    root = Path(tempfile.mkdtemp(prefix="lambdad-bench-"))
    root.chmod(0o755)
    try:
        return await cold_then_warm(
            lambda i: ExecutionEnvironment.start(
                make_spec(root, i, memory_mb, source), backend, runtimes=runtimes
            ),
            n,
            warm,
        )
    finally:
        await backend.close()


async def cold_then_warm(
    start: Callable[[int], Awaitable[ExecutionEnvironment]], n: int, warm: int
) -> dict[str, list[float]]:
    """Time n cold starts of `start(i)` (one more first, untimed: it warms the backend's
    spares), then `warm` sequential invokes of the last environment; ms each."""
    colds: list[float] = []
    env = None
    for i in range(n + 1):
        t = time.perf_counter()
        env = await start(i)
        elapsed = (time.perf_counter() - t) * 1000
        assert env.init_error is None, env.init_error
        if i > 0:
            colds.append(elapsed)
        if i < n:
            await env.destroy("bench")
    assert env is not None
    lat: list[float] = []
    try:
        for _ in range(warm):
            deadline = int(time.time() * 1000) + 10_000
            req = InvokeRequest(str(uuid.uuid4()), b"{}", deadline, "arn", "Root=1", None, None)
            t = time.perf_counter()
            out = await env.invoke(req, 10)
            lat.append((time.perf_counter() - t) * 1000)
            assert out.function_error is None, out.payload
    finally:
        await env.destroy("bench")
    return {"cold": colds, "warm": lat}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="bwrap")
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("-w", type=int, default=500)
    ap.add_argument("--memory", type=int, default=256, help="function memory size, MB")
    ap.add_argument("--runtime-cache", type=Path, default=None, help="prepared runtimes dir")
    ap.add_argument("--import-boto3", action="store_true", help="the function imports boto3")
    args = ap.parse_args()
    runtimes = RuntimeStore(args.runtime_cache) if args.runtime_cache else None
    source = ("import boto3\n" if args.import_boto3 else "") + HELLO
    res = anyio.run(run, args.backend, args.n, args.w, args.memory, runtimes, source)
    execs = bare_exec(args.n)
    https = bare_http(args.w)
    report = {
        "backend": args.backend,
        "sdk_mounted": runtimes is not None,
        "imports_boto3": args.import_boto3,
        "memory_mb": args.memory,
        "cold_start_ms": {"p50": statistics.median(res["cold"]), "p90": pct(res["cold"], 0.9)},
        "bare_fork_exec_ms": {"p50": statistics.median(execs), "p90": pct(execs, 0.9)},
        "warm_invoke_ms": {
            "p50": statistics.median(res["warm"]),
            "p90": pct(res["warm"], 0.9),
            "p99": pct(res["warm"], 0.99),
            "mean": statistics.fmean(res["warm"]),
            # Mostly CFS throttling at small memory sizes: how often an invoke waits for quota.
            "over_10ms": sum(1 for v in res["warm"] if v > 10),
        },
        "bare_http_rtt_ms": {"p50": statistics.median(https), "p99": pct(https, 0.99)},
    }
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
