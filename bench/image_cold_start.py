"""Cold start and warm latency of a container image function, against the same runtime
shipped as a zip (a custom runtime), in the same run.

    .venv/bin/python bench/image_cold_start.py [-n 20] [-w 300] [--memory 256]

Both run the tests' busybox image: a shell `bootstrap` speaking the Runtime API with
busybox wget (tests/support/image_roots.py). As an image, the environment gets the
image's root assembled read-only beside init's (one bind per top-level entry, its own
/proc, /dev and /tmp) and init starts the bootstrap chrooted into it; as a zip, the same
files are /var/task on the host's system dirs. The difference is what an image costs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import anyio

from lambdad.pool.environment import ExecutionEnvironment
from lambdad.runtimes import EnvironmentSpec, lambda_environment
from lambdad.runtimes.image_launch import image_environment
from lambdad.runtimes.spec import ImageLaunch
from lambdad.sandbox import select_backend

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from measure import pct
from runtime_cold_start import cold_then_warm

from support.image_roots import APPLETS, BOOTSTRAP, HANDLER, busybox_rootfs


def zip_code(root: Path) -> Path:
    """The same bootstrap and handler as a custom runtime's code (host's busybox)."""
    code = root / "zip"
    (code / "bin").mkdir(parents=True)
    for applet in APPLETS:
        os.symlink("/bin/busybox", code / "bin" / applet)
    bootstrap = BOOTSTRAP.replace("#!/bin/sh\n", "#!/bin/sh\nexport PATH=/var/task/bin:$PATH\n")
    (code / "bootstrap").write_text(bootstrap)
    (code / "bootstrap").chmod(0o755)
    (code / "function.sh").write_text(HANDLER)
    for p in (code, *code.rglob("*")):
        if not p.is_symlink():
            p.chmod(p.stat().st_mode | 0o055)
    return code


def make_spec(root: Path, i: int, memory_mb: int, image: Path | None) -> EnvironmentSpec:
    runtime = "provided.al2023"
    env = lambda_environment(
        function_name="bench", function_version="$LATEST", memory_mb=memory_mb,
        region="us-east-1", log_group_name="/aws/lambda/bench", log_stream_name="s",
        runtime=runtime, handler="function.handler",
    )  # fmt: skip
    spec = EnvironmentSpec(
        env_id=f"bench{i}", function_name="bench", function_version="$LATEST",
        runtime=runtime, handler="function.handler", code_dir=root / "zip", layer_dirs=(),
        memory_mb=memory_mb, ephemeral_storage_mb=512, environment=env, network="none",
        work_dir=root / f"work{i}",
    )  # fmt: skip
    if image is None:
        return spec
    launch = ImageLaunch(image, ("/var/runtime/bootstrap", "function.handler"), "/var/task")
    return dataclasses.replace(
        spec, image=launch, environment=image_environment((("PATH", "/bin"),), env)
    )


async def run(n: int, warm: int, memory_mb: int, image: bool) -> dict[str, list[float]]:
    backend = select_backend("bwrap")
    root = Path(tempfile.mkdtemp(prefix="lambdad-bench-"))
    root.chmod(0o755)
    zip_code(root)
    rootfs = busybox_rootfs(root / "rootfs") if image else None
    try:
        return await cold_then_warm(
            lambda i: ExecutionEnvironment.start(make_spec(root, i, memory_mb, rootfs), backend),
            n,
            warm,
        )
    finally:
        await backend.close()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("-w", type=int, default=300)
    ap.add_argument("--memory", type=int, default=256, help="function memory size, MB")
    args = ap.parse_args()
    report: dict[str, object] = {"memory_mb": args.memory}
    for kind in ("zip", "image"):
        res = anyio.run(run, args.n, args.w, args.memory, kind == "image")
        report[kind] = {
            "cold_start_ms": {"p50": statistics.median(res["cold"]), "p90": pct(res["cold"], 0.9)},
            "warm_invoke_ms": {
                "p50": statistics.median(res["warm"]),
                "p99": pct(res["warm"], 0.99),
            },
        }
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
