"""What the network paths cost: sandbox start per network mode, and the forward's relay.

Usage (root): python bench/network.py [N]

1. BwrapBackend.start() + wait() of `true`, N times each: network none with no
   forwards (bwrap makes the namespace: the floor), none with the two forwards a
   function with one --aws-endpoint gets (the launcher makes the namespace and binds
   them), and egress (the same plus slirp4netns and its routes).
2. The relay: from inside a sandbox, N request/response round trips of 100 bytes and
   one 64 MiB upload through a forward to a host echo server, against the same from
   the host straight to that server (the floor).
Writes its section of bench/RESULTS.md.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import statistics
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import anyio

from lambdad.sandbox import BwrapBackend, Forward, Mount, PortForwarder, SandboxSpec

RESULTS = Path(__file__).parent / "RESULTS.md"
PYTHON = os.path.realpath(sys.executable)
UPLOAD = 64 << 20


def pct(xs: list[float], p: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(p * len(xs)))]


def echo_server() -> int:
    """A host TCP server that echoes each connection back (a thread per connection)."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve(conn: socket.socket) -> None:
        with conn:
            while data := conn.recv(1 << 16):
                conn.sendall(data)

    def accept() -> None:
        while True:
            conn, _ = server.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    port: int = server.getsockname()[1]
    return port


CLIENT = """
import json, socket, sys, time
port, n, upload = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
s = socket.create_connection(("127.0.0.1", port))
rtts = []
for _ in range(n):
    t = time.perf_counter()
    s.sendall(b"x" * 100)
    got = 0
    while got < 100:
        got += len(s.recv(100 - got))
    rtts.append((time.perf_counter() - t) * 1000)
chunk = b"y" * (1 << 16)
t = time.perf_counter()
import threading
def drain():
    left = upload
    while left:
        left -= len(s.recv(min(left, 1 << 16)))
reader = threading.Thread(target=drain)
reader.start()
for _ in range(upload // len(chunk)):
    s.sendall(chunk)
reader.join()
print(json.dumps({"rtts": rtts, "mb_s": upload / (1 << 20) / (time.perf_counter() - t)}))
"""


async def starts(backend: BwrapBackend, work: Path, n: int, **kw: Any) -> list[float]:
    true = shutil.which("true") or "/bin/true"
    out = []
    for i in range(n):
        spec = SandboxSpec(
            sandbox_id=f"n{i}", argv=(true,), env={}, mounts=(), memory_mb=128,
            ephemeral_storage_mb=512, work_dir=work / f"w{len(out)}-{i}", cwd="/", **kw,
        )  # fmt: skip
        t = time.perf_counter()
        sb = await backend.start(spec)
        await sb.wait()
        out.append((time.perf_counter() - t) * 1000)
        await sb.destroy("bench")
        await anyio.sleep(0.1)  # spares refill, as between real cold starts
    return out


async def relay(backend: BwrapBackend, work: Path, port: int, n: int) -> dict[str, Any]:
    out = work / "relay.json"
    with open(out, "wb") as f:
        spec = SandboxSpec(
            sandbox_id="relay",
            argv=(PYTHON, "-I", "-S", "-c", textwrap.dedent(CLIENT), "9010", str(n), str(UPLOAD)),
            env={}, mounts=(Mount(Path(sys.base_prefix), sys.base_prefix),), memory_mb=512,
            ephemeral_storage_mb=512, work_dir=work / "relay", cwd="/", stdout_fd=f.fileno(),
            forwards=(Forward(9010, "127.0.0.1", port),),
        )  # fmt: skip
        sb = await backend.start(spec)
        await sb.wait()
        await sb.destroy("bench")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def direct(port: int, n: int) -> dict[str, Any]:
    import subprocess

    run = subprocess.run(
        [PYTHON, "-I", "-S", "-c", textwrap.dedent(CLIENT), str(port), str(n), str(UPLOAD)],
        check=True, capture_output=True,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(run.stdout)
    return result


async def measure(n: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="lambdad-bench-net-"))
    forwarder = PortForwarder()
    port = echo_server()
    two = (Forward(9010, "127.0.0.1", port), Forward(9011, "127.0.0.1", port))
    try:
        async with anyio.create_task_group() as group:
            await group.start(forwarder.run)
            backend = BwrapBackend(spares=2, spare_tmp_mb=512, forwarder=forwarder)
            try:
                await anyio.sleep(1)  # the spares
                results = {
                    "none, no forwards (floor)": await starts(backend, work, n),
                    "none, 2 forwards": await starts(backend, work, n, forwards=two),
                    "egress, 2 forwards": await starts(
                        backend, work, n, forwards=two, network="egress"
                    ),
                }
                through = await relay(backend, work, port, n)
            finally:
                await backend.close()
            group.cancel_scope.cancel()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"starts": results, "relay": through, "direct": direct(port, n)}


def render(n: int, m: dict[str, Any]) -> str:
    floor = statistics.median(m["starts"]["none, no forwards (floor)"])
    lines = [
        "<!-- network:start -->",
        f"## Network paths (`python bench/network.py {n}`, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        f"Load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())} "
        f"on {os.cpu_count()} cores (other work on the box shows in every row).",
        "",
        "Sandbox start + exit of `true` (BwrapBackend, warm spares):",
        "",
        "| network | p50 ms | p90 ms | p50 ÷ floor |",
        "| --- | --- | --- | --- |",
    ]
    for name, xs in m["starts"].items():
        med = statistics.median(xs)
        lines.append(f"| {name} | {med:.1f} | {pct(xs, 0.9):.1f} | {med / floor:.2f}× |")
    r, d = m["relay"], m["direct"]
    lines += [
        "",
        "A forward's relay (sandbox → 127.0.0.1:9010 → server relay → host echo server), "
        "against the host's own client straight to the echo server:",
        "",
        "| path | 100-byte round trip p50 ms | p90 ms | 64 MiB echoed, MiB/s |",
        "| --- | --- | --- | --- |",
        f"| direct (floor) | {statistics.median(d['rtts']):.3f} | {pct(d['rtts'], 0.9):.3f} "
        f"| {d['mb_s']:.0f} |",
        f"| through the forward | {statistics.median(r['rtts']):.3f} | "
        f"{pct(r['rtts'], 0.9):.3f} | {r['mb_s']:.0f} |",
        "<!-- network:end -->",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    section = render(n, anyio.run(measure, n))
    print(section)
    text = RESULTS.read_text()
    pattern = re.compile(r"<!-- network:start -->.*?<!-- network:end -->\n", re.S)
    text = pattern.sub(section, text) if pattern.search(text) else text + "\n" + section
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
