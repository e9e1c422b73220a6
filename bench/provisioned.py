"""First-invoke latency with provisioned concurrency, beside an on-demand cold start.

    .venv/bin/python bench/provisioned.py [--n 5]

Starts a `lambdad server` with a fresh data dir and deploys a python3.12 function
whose Init takes about 300 ms (a stand-in for heavy imports). Each round publishes
a new version (so no environment of it exists), then:

- on demand: invokes the version once: the client waits for the cold start;
- provisioned: puts a provisioned concurrency config of 1 on the next new
  version, waits until it is READY, then invokes it once: the environment was
  initialised ahead of traffic, so the client should pay a warm invoke.

Client-observed latency of that first invoke, and whether the REPORT line has an
Init Duration. Writes its section of bench/RESULTS.md (between markers, so it
survives other sections being rewritten by hand; `bench/run.py` rewrites the
whole file, so run this after it).
"""

from __future__ import annotations

import argparse
import base64
import re
import time
from pathlib import Path
from typing import Any

from harness import LambdadServer
from measure import pct, section_text, write_section
from run import app_zip, lambda_client

RESULTS = Path(__file__).with_name("RESULTS.md")
START, END = "<!-- provisioned:start -->", "<!-- provisioned:end -->"
SOURCE = (
    "import time\n"
    "time.sleep(0.3)  # heavy imports\n"
    "def handler(event, context):\n"
    "    return {'hello': 'world'}\n"
)
INIT_DURATION = re.compile(r"Init Duration: ([\d.]+) ms")


def deploy_python(lam: Any, name: str, source: str, **config: Any) -> None:
    """A python3.12 function with `source` as app.py, Active."""
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role="arn:aws:iam::000000000000:role/lambda-role",
        Handler="app.handler",
        Code={"ZipFile": app_zip(source)},
        **config,
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name)


def new_version(lam: Any, name: str, round_: int) -> str:
    lam.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"ROUND": str(round_)}}
    )
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    return str(lam.publish_version(FunctionName=name)["Version"])


def invoke_with_tail(lam: Any, name: str, qualifier: str) -> tuple[float, str]:
    """One invoke: the client's latency in ms and the log tail (with the REPORT line)."""
    started = time.perf_counter()
    response = lam.invoke(FunctionName=name, Qualifier=qualifier, LogType="Tail")
    elapsed = (time.perf_counter() - started) * 1000
    response["Payload"].read()
    return elapsed, base64.b64decode(response["LogResult"]).decode()


def first_invoke(lam: Any, name: str, qualifier: str) -> tuple[float, bool]:
    elapsed, tail = invoke_with_tail(lam, name, qualifier)
    return elapsed, INIT_DURATION.search(tail) is not None


def wait_ready(lam: Any, name: str, qualifier: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        config = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier=qualifier)
        if config["Status"] == "READY":
            return
        time.sleep(0.05)
    raise RuntimeError(f"{name}:{qualifier} was not READY in 60 s")


def measure(n: int) -> dict[str, list[tuple[float, bool]]]:
    results: dict[str, list[tuple[float, bool]]] = {"on demand": [], "provisioned": []}
    with LambdadServer() as server:
        lam = lambda_client(server.url, read_timeout=120)
        name = "bench-provisioned"
        deploy_python(lam, name, SOURCE)
        for round_ in range(n):
            version = new_version(lam, name, 2 * round_)
            results["on demand"].append(first_invoke(lam, name, version))
            version = new_version(lam, name, 2 * round_ + 1)
            lam.put_provisioned_concurrency_config(
                FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=1
            )
            wait_ready(lam, name, version)
            results["provisioned"].append(first_invoke(lam, name, version))
            lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier=version)
        print(f"sandbox backend: {server.sandbox_backend()}")
    return results


def render(command: str, n: int, results: dict[str, list[tuple[float, bool]]]) -> str:
    rows = ["| first invoke of a new version | p50 ms | max ms | REPORT has Init Duration |"]
    rows.append("|---|---:|---:|---|")
    for kind, samples in results.items():
        latencies = [ms for ms, _ in samples]
        with_init = sum(1 for _, init in samples if init)
        rows.append(
            f"| {kind} | {pct(latencies, 0.5):.0f} | {max(latencies):.0f} "
            f"| {with_init} of {len(samples)} |"
        )
    heading = f"Provisioned concurrency (python3.12, ~300 ms Init, n = {n})"
    return section_text(START, END, heading, command, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5)
    args = parser.parse_args()
    section = render(f"python bench/provisioned.py --n {args.n}", args.n, measure(args.n))
    print(section)
    write_section(RESULTS, START, END, section)
    print(f"wrote {RESULTS.name}")


if __name__ == "__main__":
    main()
