"""Cold-start cost of one sandbox: BwrapBackend.start() vs a bare fork+exec of true.

Usage (root): python bench/sandbox_start.py [N]
Prints p50/p90 of: bare fork+exec+wait of `true`; bare `bwrap --unshare-all ... true`;
backend start() (returns once the process is exec'd, limits applied); start()+wait().
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio

from lambdad.sandbox import BwrapBackend, SandboxSpec


def pct(xs: list[float], p: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(p * len(xs)))]


def show(name: str, xs: list[float]) -> None:
    print(f"{name:<34} p50 {statistics.median(xs):7.2f} ms   p90 {pct(xs, 0.9):7.2f} ms")


def bare(argv: list[str], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(argv, check=True)
        out.append((time.perf_counter() - t) * 1000)
    return out


async def backend_runs(n: int, pause: float) -> tuple[list[float], list[float]]:
    true = shutil.which("true") or "/bin/true"
    work = Path(tempfile.mkdtemp(prefix="lambdad-bench-"))
    backend = BwrapBackend(spares=2, spare_tmp_mb=512)
    starts, totals = [], []
    try:
        await anyio.sleep(1)  # let the spares be made
        for i in range(n):
            spec = SandboxSpec(
                sandbox_id=f"b{i}",
                argv=(true,),
                env={},
                mounts=(),
                memory_mb=128,
                ephemeral_storage_mb=512,
                work_dir=work / f"w{i}",
                cwd="/",
            )
            t = time.perf_counter()
            sb = await backend.start(spec)
            starts.append((time.perf_counter() - t) * 1000)
            await sb.wait()
            totals.append((time.perf_counter() - t) * 1000)
            await sb.destroy("bench")
            await anyio.sleep(pause)  # as between real cold starts: spares refill
    finally:
        await backend.close()
        shutil.rmtree(work, ignore_errors=True)
    return starts, totals


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    true = shutil.which("true") or "/bin/true"
    bwrap = shutil.which("bwrap") or "bwrap"
    print(f"N={n}, host cpus={os.cpu_count()}")
    show("fork+exec true", bare([true], n))
    show(
        "bwrap --unshare-all true",
        bare([bwrap, "--unshare-all", "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin",
              "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
              "--proc", "/proc", "--dev", "/dev", true], n),
    )  # fmt: skip
    starts, totals = anyio.run(backend_runs, n, 0.3)
    show("BwrapBackend.start()", starts)
    show("BwrapBackend.start()+wait()", totals)


if __name__ == "__main__":
    main()
