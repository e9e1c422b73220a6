"""Memory of SnapStart environments against on-demand ones, under a burst of cold starts.

    python bench/snapstart_density.py --n 100 [--on-demand]

Starts a lambdad server (bench/harness.py), publishes a 128 MB python3.12 function
whose handler imports boto3 (SnapStart on, or off with --on-demand), and sends `--n`
concurrent invokes whose handler sleeps, so that `--n` environments live at once.
While they sleep it reads each environment's cgroup: USS and PSS summed over its
processes from /proc/PID/smaps_rollup (as smem does) and the cgroup's memory usage,
p50 over the environments holding processes; the template is the largest and is
shown apart. It prints JSON, checks that every invoke answered without a function
error, and counts the server log's restores and on-demand starts.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
from harness import LambdadServer, auth_for
from run import lambda_client

HANDLER = (
    "import time, boto3\n\ndef handler(event, context):\n    time.sleep(event['s'])\n    return 1\n"
)
ROLE = "arn:aws:iam::000000000000:role/lambda-role"
CGROUPS = Path("/sys/fs/cgroup/memory/lambdad")  # cgroup v1, as on this host


def kib(pid: int) -> dict[str, int]:
    fields: dict[str, int] = {}
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":"):
                fields[parts[0][:-1]] = int(parts[1])
    except (OSError, ValueError):
        pass
    return fields


def environments() -> list[dict[str, Any]]:
    """One row per sandbox cgroup that holds processes."""
    rows = []
    for group in CGROUPS.glob("*/*/"):
        try:
            pids = [int(p) for p in (group / "cgroup.procs").read_text().split()]
            usage = int((group / "memory.usage_in_bytes").read_text())
        except OSError:
            continue
        if not pids:
            continue
        rollups = [kib(pid) for pid in pids]
        uss = sum(r.get("Private_Clean", 0) + r.get("Private_Dirty", 0) for r in rollups)
        pss = sum(r.get("Pss", 0) for r in rollups)
        rows.append(
            {"processes": len(pids), "uss_mb": uss / 1024, "pss_mb": pss / 1024,
             "cgroup_mb": usage / 2**20}
        )  # fmt: skip
    return rows


def deploy(client: Any, snapstart: bool) -> str:
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", HANDLER)
    extra = {"SnapStart": {"ApplyOn": "PublishedVersions"}} if snapstart else {}
    client.create_function(
        FunctionName="dense", Runtime="python3.12", Handler="app.handler", Role=ROLE,
        Code={"ZipFile": code.getvalue()}, MemorySize=128, Timeout=300, **extra,
    )  # fmt: skip
    client.get_waiter("function_active_v2").wait(FunctionName="dense")
    version = str(client.publish_version(FunctionName="dense")["Version"])
    client.get_waiter("published_version_active").wait(FunctionName="dense", Qualifier=version)
    return version


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100, help="environments alive at once")
    ap.add_argument("--on-demand", action="store_true", help="SnapStart off (Init each)")
    ap.add_argument("--sleep-s", type=float, default=60, help="how long each invoke holds")
    args = ap.parse_args()
    with LambdadServer() as server:
        version = deploy(lambda_client(server.url), not args.on_demand)
        path = f"/2015-03-31/functions/dense/invocations?Qualifier={version}"
        answers: list[str] = []

        def invoke() -> None:
            with httpx.Client(base_url=server.url, timeout=600, auth=auth_for(server.url)) as http:
                response = http.post(path, content=json.dumps({"s": args.sleep_s}).encode())
                error = response.headers.get("x-amz-function-error")
                answers.append(f"{response.status_code} {error or 'ok'}")

        threads = [threading.Thread(target=invoke) for _ in range(args.n)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        rows: list[dict[str, Any]] = []
        while time.monotonic() - started < args.sleep_s * 0.8:
            rows = environments()
            if len(rows) >= args.n + (0 if args.on_demand else 1):
                break
            time.sleep(0.5)
        time.sleep(1.0)  # the last ones past their first instructions
        rows = sorted(environments(), key=lambda row: -row["cgroup_mb"])
        held_s = time.monotonic() - started
        template = None if args.on_demand else rows.pop(0)
        proc = server.proc
        server_rss = round(kib(proc.pid).get("Rss", 0) / 1024, 1) if proc is not None else None
        for thread in threads:
            thread.join()
        log = server.log_text()

    def p50(key: str) -> float:
        return round(statistics.median(row[key] for row in rows), 2) if rows else 0.0

    json.dump(
        {
            "snapstart": not args.on_demand,
            "environments": len(rows),
            "seconds_to_hold_them": round(held_s, 1),
            "processes_each": p50("processes"),
            "uss_mb_each_p50": p50("uss_mb"),
            "pss_mb_each_p50": p50("pss_mb"),
            "cgroup_mb_each_p50": p50("cgroup_mb"),
            "template": template,
            "server_rss_mb": server_rss,
            "answers": {answer: answers.count(answer) for answer in set(answers)},
            "restored": log.count("from its template in"),
            "restore_failures": log.count("restore failed"),
            "on_demand_starts": log.count("cold start of dense:"),
        },
        sys.stdout,
        indent=2,
    )
    print()


if __name__ == "__main__":
    main()
