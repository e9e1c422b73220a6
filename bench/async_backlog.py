"""How fast lambdad accepts and drains a backlog of asynchronous events.

    .venv/bin/python bench/async_backlog.py [--events 1000]

Starts a `lambdad server` (fresh data dir, SQLite), deploys a python3.12 hello
function at 128 MB, then:

1. accept: `--events` Invoke(InvocationType=Event) from 16 keep-alive clients;
   each 202 means the event is committed to the database;
2. drain: from the first accept until the last event's END line is in the log;
3. floor: synchronous invokes of the same function, closed loop at concurrency
   16, for as long as the drain took: the most the invoke path itself gives.

Prints a table and writes it to bench/RESULTS-async.md.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from harness import LambdadServer, auth_for
from measure import closed_loop, keepalive_client
from run import deploy, invoke_path, lambda_client

CONCURRENCY = 16
RESULTS = Path(__file__).with_name("RESULTS-async.md")


def accept(url: str, name: str, events: int) -> list[float]:
    """POST `events` async invokes; returns each one's latency in ms."""
    path = invoke_path(name)
    headers = {"X-Amz-Invocation-Type": "Event"}

    def post_many(count: int) -> list[float]:
        out = []
        with keepalive_client(url) as http:
            for _ in range(count):
                t = time.perf_counter()
                response = http.post(path, content=b'{"n": 1}', headers=headers)
                out.append((time.perf_counter() - t) * 1000)
                if response.status_code != 202:
                    raise RuntimeError(f"accept failed: {response.status_code} {response.text}")
        return out

    share = [events // CONCURRENCY + (i < events % CONCURRENCY) for i in range(CONCURRENCY)]
    with concurrent.futures.ThreadPoolExecutor(CONCURRENCY) as pool:
        return [ms for part in pool.map(post_many, share) for ms in part]


def ended(url: str, name: str, after: int) -> tuple[int, int]:
    """END lines in the function's log after id `after`: (count, next id)."""
    body = httpx.get(
        f"{url}/_lambdad/functions/{name}/logs",
        params={"after": after, "limit": 10000},
        timeout=30,
        auth=auth_for(url),
    ).json()
    count = sum(e["message"].startswith("END RequestId") for e in body["events"])
    return count, int(body["nextAfter"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1000)
    events = parser.parse_args().events
    load = os.getloadavg()
    with LambdadServer() as server:
        client = lambda_client(server.url)
        deploy(client, "backlog", 128)
        deploy(client, "floor", 128)
        started = time.perf_counter()
        latencies = accept(server.url, "backlog", events)
        accepted_s = time.perf_counter() - started
        done, after = 0, 0
        deadline = time.monotonic() + 600
        while done < events and time.monotonic() < deadline:
            count, after = ended(server.url, "backlog", after)
            done += count
            time.sleep(0.05)
        drained_s = time.perf_counter() - started
        floor = closed_loop(server.url, invoke_path("floor"), CONCURRENCY, min(drained_s, 10.0))
        backend = server.sandbox_backend()
    latencies.sort()
    rows = [
        ("accept (202, committed)", events / accepted_s, latencies[len(latencies) // 2]),
        ("drain (END logged)", done / drained_s, float("nan")),
        (f"floor: sync invokes at concurrency {CONCURRENCY}", floor.per_second, float("nan")),
    ]
    lines = [
        "# Async backlog",
        "",
        f"Produced by `python bench/async_backlog.py --events {events}`.",
        "",
        f"- **date:** {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- **cores:** {os.cpu_count()} ({platform.machine()})",
        f"- **server Python:** {sys.version.split()[0]}",
        f"- **sandbox backend:** {backend}",
        f"- **load average at start:** {' '.join(f'{x:.2f}' for x in load)}",
        f"- **events:** {events}, delivered {done}",
        "",
        "|  | events/s | p50 ms |",
        "| --- | ---: | ---: |",
        *(f"| {name} | {rate:.0f} | {p50:.1f} |" for name, rate, p50 in rows),
        "",
        f"Drain ÷ floor: {rows[1][1] / floor.per_second:.2f}.",
        "",
    ]
    text = "\n".join(lines).replace("| nan |", "| – |")
    print(text)
    RESULTS.write_text(text)


if __name__ == "__main__":
    main()
