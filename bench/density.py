"""Memory of warm no-op python environments: private (USS) and proportional (PSS) per
environment, from /proc/PID/smaps_rollup of every process in its cgroup.

    .venv/bin/python bench/density.py [-n 100] [--ready]

Starts n environments (the usual way, or `--ready`: parked, then adopted), invokes
each once, and reports per environment: its processes, the sum of their USS
(Private_Clean + Private_Dirty) and PSS, the cgroup's memory use; and the host's
free memory before and after, with the server-side objects each one holds
(cgroups, mounts in the launcher's namespace, host uids).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio

from lambdad.pool.environment import ExecutionEnvironment
from lambdad.sandbox import select_backend

sys.path.insert(0, str(Path(__file__).parent))
from ready_cold_start import invoke_once
from runtime_cold_start import HELLO, make_spec


def rollup(pid: int) -> dict[str, int]:
    """kB by field of /proc/PID/smaps_rollup (empty when the process is gone)."""
    out: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            name, _, rest = line.partition(":")
            out[name] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return out


def mem_available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(env: ExecutionEnvironment) -> dict[str, float]:
    sandbox: Any = env._sandbox  # the bench looks inside: its cgroup's processes
    cgroup = sandbox._slot.cgroup
    pids = sorted(cgroup.pids()) if cgroup is not None else [sandbox.pid]
    rolls = [rollup(p) for p in pids]
    uss = sum(r.get("Private_Clean", 0) + r.get("Private_Dirty", 0) for r in rolls) / 1024
    pss = sum(r.get("Pss", 0) for r in rolls) / 1024
    usage = 0.0
    if cgroup is not None:
        usage = cgroup.memory_peak_bytes() / (1 << 20)
    return {"processes": len(pids), "uss_mb": uss, "pss_mb": pss, "cgroup_peak_mb": usage}


async def run(n: int, ready: bool) -> dict[str, Any]:
    backend = select_backend("bwrap")
    root = Path(tempfile.mkdtemp(prefix="lambdad-bench-"))
    root.chmod(0o755)
    envs: list[ExecutionEnvironment] = []
    before = mem_available_mb()
    started = time.monotonic()
    try:
        for i in range(n):
            spec = make_spec(root, i, 128, HELLO)
            if ready:
                parked_spec = replace(make_spec(root, 100000 + i, 128, HELLO), handler="")
                env = await ExecutionEnvironment.park(parked_spec, backend)
                assert await env.adopt(spec) is None
            else:
                env = await ExecutionEnvironment.start(spec, backend)
            assert env.init_error is None, env.init_error
            await invoke_once(env)
            envs.append(env)
        elapsed = time.monotonic() - started
        after = mem_available_mb()
        rows = [measure(e) for e in envs]
    finally:
        for env in envs:
            await env.destroy("bench")
        await backend.close()

    def med(key: str) -> float:
        return round(statistics.median(r[key] for r in rows), 2)

    return {
        "environments": n,
        "ready": ready,
        "start_all_s": round(elapsed, 1),
        "processes_each": med("processes"),
        "uss_mb_each_p50": med("uss_mb"),
        "pss_mb_each_p50": med("pss_mb"),
        "cgroup_peak_mb_each_p50": med("cgroup_peak_mb"),
        "host_mem_available_drop_mb_each": round((before - after) / n, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=100)
    ap.add_argument("--ready", action="store_true", help="park, then adopt each")
    args = ap.parse_args()
    json.dump(anyio.run(run, args.n, args.ready), sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
