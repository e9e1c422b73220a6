"""What a warm invoke costs inside the sandbox: the init's and the runtime's CPU per invoke.

Starts the in-sandbox init (`runtimes/bootstraps/init.py`) with the built-in Python
runtime behind it, as an environment runs them but without the sandbox around them
(no namespaces or cgroups: what they do per invoke is the same), and drives
sequential invokes of a no-op handler over the host channel, reading each
process's CPU (utime + stime, /proc/<pid>/stat) before and after. Bootstraps whose
init takes --runtime-fd (the direct channel, `runtimes/direct.py`) are driven as the
host drives them: invokes to the runtime itself, its output pipe drained per result;
older ones through init's private channel. This is the work
a function pays from its own CPU quota on every invoke (at 128 MB, 7% of a core).

    .venv/bin/python bench/sandbox_cpu.py [-n 20000] [--runtime python3.12] [--bootstraps DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import msgspec

from lambdad.runtimes.interpreters import InterpreterCatalog

BOOTSTRAPS = Path(__file__).resolve().parents[1] / "src/lambdad/runtimes/bootstraps"
TICK_US = 1_000_000 / os.sysconf("SC_CLK_TCK")
PREFIX = struct.Struct(">II")
HANDLER = "def handler(event, context):\n    return {'hello': 'world'}\n"


def cpu_us(pid: int) -> float:
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) * TICK_US


def children(pid: int) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_text()
            except OSError:
                continue
            if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(name))
    return found


class Host:
    """The host's end of the channel (blocking, one invoke at a time)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = bytearray()

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            data = self.sock.recv(1 << 16)
            if not data:
                raise EOFError("init closed the channel")
            self.buf += data
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def frame(self) -> tuple[dict[str, object], bytes]:
        header_len, body_len = PREFIX.unpack(self._read(PREFIX.size))
        header = msgspec.json.decode(self._read(header_len))
        return header, self._read(body_len)

    def reply(self) -> tuple[dict[str, object], bytes]:
        while True:
            header, body = self.frame()
            if header["type"] not in ("log", "next"):
                return header, body
            if self.first and header["type"] == "next":
                self.first = False
                return {"type": "ready"}, b""

    first = False
    output: int | None = None

    def invoke(self, payload: bytes) -> bytes:
        header = msgspec.json.encode(
            {
                "request_id": str(uuid.uuid4()),
                "deadline_ms": int((time.time() + 3) * 1000),
                "invoked_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:noop",
                "trace_id": "Root=1-00000000-000000000000000000000000;Sampled=0",
                "client_context": None,
                "cognito_identity": None,
                "stream_limit": 6291556,
                "type": "invoke",
            }
        )
        self.sock.sendall(PREFIX.pack(len(header), len(payload)) + header + payload)
        reply, body = self.reply()
        if self.output is not None:  # the host drains the runtime's output per result
            try:
                while os.read(self.output, 65536):
                    pass
            except BlockingIOError:
                pass
        if reply["type"] == "response":
            return body
        if reply["type"] != "result" or reply["status"] != "success":
            raise RuntimeError(f"unexpected reply {reply} {body[:200]!r}")
        return body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=20000, help="invokes")
    parser.add_argument("--runtime", default="python3.12", help="the function's runtime")
    parser.add_argument("--init-python", default=sys.executable, help="init's interpreter")
    parser.add_argument(
        "--bootstraps", type=Path, default=BOOTSTRAPS, help="another tree's (an A/B run)"
    )
    args = parser.parse_args()
    bootstraps = args.bootstraps.resolve()
    task = Path(tempfile.mkdtemp(prefix="lambdad-sandbox-cpu-"))
    (task / "app.py").write_text(HANDLER)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "_HANDLER": "app.handler",
        "LAMBDA_TASK_ROOT": str(task),
        "AWS_LAMBDA_FUNCTION_NAME": "noop",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
    }
    choice = InterpreterCatalog.discover().choose(args.runtime)
    if choice.interpreter is None:
        raise SystemExit(f"no interpreter for {args.runtime}: {choice.error}")
    python = str(choice.interpreter.executable)
    argv = [args.init_python, "-I", "-S", str(bootstraps / "init.py")]
    argv += ["--listen", "127.0.0.1:0", "--channel-fd", str(theirs.fileno())]
    direct = "--runtime-fd" in (bootstraps / "init.py").read_text()
    passed = [theirs.fileno()]
    host = Host(ours)
    if direct:
        runtime_ours, runtime_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        output_r, output_w = os.pipe()
        os.set_blocking(output_r, False)
        argv += ["--runtime-fd", str(runtime_theirs.fileno()), "--output-fd", str(output_w)]
        passed += [runtime_theirs.fileno(), output_w]
        host = Host(runtime_ours)
        host.first, host.output = True, output_r
    else:
        argv += ["--private-channel"]
    argv += ["--", python, "-I", str(bootstraps / "python/bootstrap.py")]
    init = subprocess.Popen(argv, pass_fds=passed, env=env, cwd=task)
    theirs.close()
    if direct:
        runtime_theirs.close()
        os.close(output_w)
    try:
        header, _ = host.reply()
        assert header["type"] == "ready", header
        (runtime,) = children(init.pid)
        for _ in range(min(2000, args.n)):  # warm: bytecode, allocator, caches
            host.invoke(b"{}")
        before = cpu_us(init.pid), cpu_us(runtime)
        started = time.perf_counter()
        for _ in range(args.n):
            host.invoke(b"{}")
        elapsed = time.perf_counter() - started
        after = cpu_us(init.pid), cpu_us(runtime)
    finally:
        ours.close()
        host.sock.close()
        init.wait(timeout=10)
        shutil.rmtree(task, ignore_errors=True)
    init_us, runtime_us = ((a - b) / args.n for a, b in zip(after, before, strict=True))
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"{args.n} invokes, {elapsed * 1e6 / args.n:.0f} µs each round trip; CPU per invoke: "
        f"init {init_us:.0f} µs, runtime {runtime_us:.0f} µs, "
        f"in-sandbox {init_us + runtime_us:.0f} µs (load average {load}; "
        f"{'direct channel' if direct else 'through init'})"
    )


if __name__ == "__main__":
    main()
