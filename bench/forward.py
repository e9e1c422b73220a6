"""What a `--workers` secondary's forwarding of a small request costs.

Three processes, as a forwarded request crosses them: a client (this process,
one keep-alive connection, sequential requests), a "secondary" (uvicorn on
uvloop and httptools on a loopback TCP port, serving `lambdad.workers.Forwarder`,
exactly the secondary's forwarder) and a "primary" (uvicorn on a UNIX socket
serving the floor's bare ASGI app, `harness.FLOOR_APP`: the primary's own work
is not the forwarder's cost). Per request: the client's round trip (p50, p99) and
the secondary's CPU (user + system from /proc, over the whole run), besides the
same round trip made straight to a bare uvicorn app on TCP (the floor).

A GET (no body) and a PUT of a 4 KB JSON body, each `-n` requests after a
warm-up. The forwarder is whatever `lambdad` the interpreter imports, so running
this with another tree's interpreter measures that tree's forwarder:

    .venv/bin/python bench/forward.py [-n 3000] [--reps 3]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from harness import FLOOR_APP

# The floor's bare app (harness.py), on the forwarding UNIX socket instead.
PRIMARY = FLOOR_APP.replace('host="127.0.0.1", port=int(sys.argv[1])', "uds=sys.argv[1]")
assert PRIMARY != FLOOR_APP

SECONDARY = """
import sys, uvicorn
from lambdad.workers import Forwarder

forwarder = Forwarder(sys.argv[1], 1)
uvicorn.run(forwarder, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning",
            access_log=False, lifespan="off")
"""

BODY = b'{"Description": "' + b"x" * 4000 + b'"}'
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def wait_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("a server did not start")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError("a server did not answer")


def run(url: str, n: int, put: bool, server_pid: int) -> tuple[float, float, float]:
    """(p50 ms, p99 ms, server CPU µs per request)."""
    with httpx.Client(base_url=url) as client:
        for _ in range(200):  # warm-up: connections, caches
            client.request(
                "PUT" if put else "GET", "/2015-03-31/functions", content=BODY if put else None
            )
        times = []
        cpu_before = cpu_s(server_pid)
        for _ in range(n):
            start = time.perf_counter()
            response = client.request(
                "PUT" if put else "GET", "/2015-03-31/functions", content=BODY if put else None
            )
            times.append(time.perf_counter() - start)
            assert response.status_code == 200, response
        cpu = cpu_s(server_pid) - cpu_before
    times.sort()
    return statistics.median(times) * 1e3, times[int(len(times) * 0.99)] * 1e3, cpu / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=3000)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lambdad-fwd-bench-") as tmp:
        sock = str(Path(tmp) / "forward.sock")
        port, bare_port = free_port(), free_port()
        procs = [
            subprocess.Popen([sys.executable, "-c", PRIMARY, sock]),
            subprocess.Popen([sys.executable, "-c", FLOOR_APP, str(bare_port)]),
        ]
        try:
            while not Path(sock).exists():
                time.sleep(0.05)
            procs.append(subprocess.Popen([sys.executable, "-c", SECONDARY, sock, str(port)]))
            secondary, bare = procs[2], procs[1]
            wait_up(f"http://127.0.0.1:{port}/", secondary)
            wait_up(f"http://127.0.0.1:{bare_port}/", bare)
            print(f"forwarder: {sys.executable} (load {os.getloadavg()[0]:.1f})")
            for put in (False, True):
                kind = "PUT 4 KB" if put else "GET"
                for rep in range(args.reps):
                    f50, f99, fcpu = run(f"http://127.0.0.1:{port}", args.n, put, secondary.pid)
                    b50, b99, bcpu = run(f"http://127.0.0.1:{bare_port}", args.n, put, bare.pid)
                    print(
                        f"{kind:8} rep {rep}: forwarded p50 {f50:.3f} ms p99 {f99:.3f} ms, "
                        f"secondary CPU {fcpu:.0f} µs/request | straight to a bare app "
                        f"p50 {b50:.3f} ms p99 {b99:.3f} ms, its CPU {bcpu:.0f} µs/request"
                    )
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(timeout=10)


if __name__ == "__main__":
    main()
