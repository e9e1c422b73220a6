"""Cold start of a python function from a ready (parked) environment, and by fork of
its version's on-demand template, vs the usual way.

    .venv/bin/python bench/ready_cold_start.py [-n 20] [--memory 256]
        [--runtime-cache DIR [--import-boto3]]

For each of n cold starts: the usual `ExecutionEnvironment.start`, `adopt` of an
environment parked beforehand (its parking is off the request path and not
timed), and a fork of the version's template (`pool/preinit.py`: made once,
before the first round; its spare child forked ahead of each round, off the
request path, as a server does; then one more at once, with no spare: the
second cold start of a burst), each followed by one invoke. Per-phase times
of the first two, and the floors measured in the same run: a bare `bwrap
--unshare-all ... true` and a bare fork+exec+wait of `true`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio

from lambdad.pool.adoption import ParkedEnvironment
from lambdad.pool.environment import ExecutionEnvironment
from lambdad.runtimes import InvokeRequest
from lambdad.runtimes.prepare import RuntimeStore
from lambdad.sandbox import select_backend

sys.path.insert(0, str(Path(__file__).parent))
from measure import pct
from preinit_kit import template_set, version_of
from runtime_cold_start import HELLO, make_spec
from sandbox_start import bare


def summary(values: list[float]) -> dict[str, float]:
    return {"p50": round(statistics.median(values), 2), "p90": round(pct(values, 0.9), 2)}


async def invoke_once(env: ExecutionEnvironment) -> None:
    deadline = int(time.time() * 1000) + 10_000
    req = InvokeRequest(str(uuid.uuid4()), b"{}", deadline, "arn", "Root=1", None, None)
    out = await env.invoke(req, 10)
    assert out.function_error is None, out.payload


async def run(n: int, memory_mb: int, runtimes: RuntimeStore | None, source: str) -> dict:
    backend = select_backend("bwrap")
    root = Path(tempfile.mkdtemp(prefix="lambdad-bench-"))
    root.chmod(0o755)
    usual: list[float] = []
    ready: list[float] = []
    forked: list[float] = []
    burst: list[float] = []
    phases: dict[str, list[float]] = {}
    background = anyio.create_task_group()
    await background.__aenter__()
    templates = template_set(
        backend, root, memory_mb, source=source, runtimes=runtimes,
        spawn=lambda work: background.start_soon(work),
    )  # fmt: skip
    version = version_of()
    try:
        for i in range(n + 1):
            spec = make_spec(root, i, memory_mb, source)
            t = time.perf_counter()
            env = await ExecutionEnvironment.start(spec, backend, runtimes=runtimes)
            elapsed = (time.perf_counter() - t) * 1000
            assert env.init_error is None, env.init_error
            await invoke_once(env)
            await env.destroy("bench")
            if i > 0:  # the first one also warms the backend's spares
                usual.append(elapsed)
                for k, v in env.phases.items():
                    phases.setdefault(f"usual: {k}", []).append(v)

            parked_spec = replace(
                make_spec(root, 1000 + i, 128, source), env_id=f"ready{i}", handler=""
            )
            parked = await ParkedEnvironment.park(parked_spec, backend, runtimes=runtimes)
            spec = make_spec(root, 2000 + i, memory_mb, source)
            t = time.perf_counter()
            why = await parked.adopt(spec)
            elapsed = (time.perf_counter() - t) * 1000
            assert why is None, why
            assert parked.init_error is None, parked.init_error
            await invoke_once(parked)
            await parked.destroy("bench")
            if i > 0:
                ready.append(elapsed)
                for k, v in parked.phases.items():
                    phases.setdefault(f"ready: {k}", []).append(v)

            if i == 0:
                await templates._template(version)  # made off the request path, once
            await spare_forked(templates, version)
            # Its spare child, then the next one at once: no spare yet (a burst's second).
            for offset, times in ((3000, forked), (4000, burst)):
                elapsed = await fork_once(
                    templates, version, make_spec(root, offset + i, memory_mb, source)
                )
                if i > 0:
                    times.append(elapsed)
    finally:
        await templates.close()
        background.cancel_scope.cancel()
        await background.__aexit__(None, None, None)
        await backend.close()
        shutil.rmtree(root, ignore_errors=True)
    return {
        "usual_cold_start_ms": summary(usual),
        "ready_cold_start_ms": summary(ready),
        "forked_cold_start_ms": summary(forked),
        "forked_cold_start_no_spare_ms": summary(burst),
        "phases_ms": {k: summary(v) for k, v in phases.items()},
    }


async def fork_once(templates: Any, version: Any, spec: Any) -> float:
    """A cold start of `spec` by fork of `version`'s template, ms; then one invoke."""
    t = time.perf_counter()
    child = await templates.start(version, spec, None)
    elapsed = (time.perf_counter() - t) * 1000
    assert child is not None and child.init_error is None
    await invoke_once(child)
    await child.destroy("bench")
    return elapsed


async def spare_forked(templates: Any, version: Any) -> None:
    """Wait (bounded) until the template's next child is forked ahead, as between two cold
    starts on a server."""
    with anyio.fail_after(10):
        while (template := templates._live(version)) is None or template.spare is None:
            await anyio.sleep(0.01)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("--memory", type=int, default=256, help="function memory size, MB")
    ap.add_argument("--runtime-cache", type=Path, default=None, help="prepared runtimes dir")
    ap.add_argument("--import-boto3", action="store_true", help="the function imports boto3")
    args = ap.parse_args()
    runtimes = RuntimeStore(args.runtime_cache) if args.runtime_cache else None
    source = ("import boto3\n" if args.import_boto3 else "") + HELLO
    report = anyio.run(run, args.n, args.memory, runtimes, source)
    bwrap = shutil.which("bwrap") or "bwrap"
    true = shutil.which("true") or "/bin/true"
    floor = [bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", true]
    report["floor_bare_bwrap_ms"] = summary(bare(floor, args.n))
    report["floor_bare_fork_exec_ms"] = summary(bare([true], args.n))
    report["imports_boto3"] = args.import_boto3
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
