"""Timing primitives: percentiles, sequential latency, closed-loop load, process starts.

Every loop here is bounded, by a count or a deadline. Latencies are in
milliseconds, measured with `time.perf_counter` around the whole client call.
"""

from __future__ import annotations

import math
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from harness import auth_for

REQUEST_TIMEOUT_S = 30.0
BODY = b"{}"


def pct(values: Sequence[float], p: float) -> float:
    """The nearest-rank percentile (p in 0..1) of values; nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(p * len(ordered))))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Latency:
    p50: float
    p99: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Latency:
        return cls(pct(values, 0.50), pct(values, 0.99), len(values))


def timed(call: Callable[[], object], n: int) -> list[float]:
    """n sequential calls; each one's wall time in ms."""
    out: list[float] = []
    for _ in range(n):
        t = time.perf_counter()
        call()
        out.append((time.perf_counter() - t) * 1000)
    return out


def fork_exec(argv: list[str], n: int) -> list[float]:
    """n runs of argv to completion (fork + exec + wait), each in ms."""
    return timed(lambda: subprocess.run(argv, check=True, timeout=REQUEST_TIMEOUT_S), n)


def keepalive_client(base_url: str) -> httpx.Client:
    return httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT_S, auth=auth_for(base_url))


def request_ok(client: httpx.Client, method: str, path: str) -> bool:
    """One request (POSTs carry the bench event); True when 200 and no function error."""
    response = client.request(method, path, content=BODY if method == "POST" else None)
    return response.status_code == 200 and "x-amz-function-error" not in response.headers


def sequential_posts(
    base_url: str, path: str, n: int, method: str = "POST"
) -> tuple[list[float], int]:
    """n keep-alive requests one after another: (latencies in ms, failed count)."""
    failed = 0
    with keepalive_client(base_url) as client:

        def one() -> None:
            nonlocal failed
            failed += not request_ok(client, method, path)

        return timed(one, n), failed


@dataclass
class LoadResult:
    concurrency: int
    duration_s: float
    latencies: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    samples: dict[str, str] = field(default_factory=dict)
    """The first response body (or exception text) seen for each non-200 outcome."""

    @property
    def ok(self) -> int:
        return self.outcomes["200"]

    @property
    def errors(self) -> int:
        return sum(n for k, n in self.outcomes.items() if k != "200")

    @property
    def per_second(self) -> float:
        return self.ok / self.duration_s

    def error_summary(self) -> str:
        bad = {k: n for k, n in self.outcomes.items() if k != "200"}
        return ", ".join(f"{k}: {n}" for k, n in sorted(bad.items())) or "0"


def _outcome(client: httpx.Client, path: str) -> tuple[str, str]:
    """(outcome key, a sample of what went wrong or "")."""
    try:
        response = client.post(path, content=BODY)
    except httpx.HTTPError as exc:
        return type(exc).__name__, str(exc)[:200]
    if response.status_code == 200 and "x-amz-function-error" in response.headers:
        return "function error", response.text[:200]
    status = str(response.status_code)
    return status, "" if status == "200" else response.text[:200]


def closed_loop(base_url: str, path: str, concurrency: int, duration_s: float) -> LoadResult:
    """`concurrency` threads, each with its own keep-alive client, POST back to back.

    All threads start together on a barrier and stop issuing at the deadline;
    only requests that *started* before it count, and the rate is over the
    time until the last one finished.
    """
    result = LoadResult(concurrency, duration_s)
    lock = threading.Lock()
    deadline = [0.0]
    start = [0.0]

    def go() -> None:  # runs once, when every thread is connected, before any is released
        start[0] = time.perf_counter()
        deadline[0] = start[0] + duration_s

    barrier = threading.Barrier(concurrency + 1, action=go)

    def worker() -> None:
        lats: list[float] = []
        outcomes: Counter[str] = Counter()
        samples: dict[str, str] = {}
        with keepalive_client(base_url) as client:
            client.get("/")  # connect before the clock starts (any status will do)
            barrier.wait(timeout=REQUEST_TIMEOUT_S)
            while (t := time.perf_counter()) < deadline[0]:
                key, sample = _outcome(client, path)
                outcomes[key] += 1
                if sample:
                    samples.setdefault(key, sample)
                lats.append((time.perf_counter() - t) * 1000)
        with lock:
            result.latencies.extend(lats)
            result.outcomes.update(outcomes)
            result.samples = {**samples, **result.samples}

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=REQUEST_TIMEOUT_S)
    for thread in threads:
        thread.join(duration_s + 2 * REQUEST_TIMEOUT_S)
    result.duration_s = time.perf_counter() - start[0]
    return result


def write_section(results: Path, start: str, end: str, section: str) -> None:
    """Put `section` between its markers in RESULTS.md (appended the first time), so
    it survives the other sections being rewritten."""
    text = results.read_text() if results.exists() else ""
    if start in text and end in text:
        text = text[: text.index(start)] + section + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    results.write_text(text)


def section_text(start: str, end: str, heading: str, command: str, rows: list[str]) -> str:
    """A RESULTS.md section: markers, heading, the command that produced it, a table."""
    return "\n".join([start, f"## {heading}", "", f"Produced by `{command}`.", "", *rows, end])
