"""A function that floods its stdout must not take the server's memory or disk with it.

The function writes short lines (the worst case for per-event overhead) with
os.write at full speed. The server's resident memory is sampled from
/proc/<pid>/status while it runs; it must stay flat, and the log store's
files must stay within the size cap the server was given.

The flood is LAMBDAD_TEST_FLOOD_MB megabytes (default 200, so the tier stays
fast on a busy 2-core machine); the issue's 500 MB case is
`LAMBDAD_TEST_FLOOD_MB=500 .venv/bin/pytest -q -s tests/hostile/test_logs_flood.py`.
"""

from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.invoke import InvokeServer, create_function, invoke_json
from support.marks import sandbox_missing_reason
from support.procfs import rss_bytes
from support.server import http_auth
from support.waiting import wait_until

FLOOD_MB = int(os.environ.get("LAMBDAD_TEST_FLOOD_MB", "200"))
CAP_BYTES = 128 << 20
RSS_SLACK_MB = 40
"""How much the server may grow while the flood runs ("flat, within tens of MB")."""

FLOOD_SOURCE = """
import os

def handler(event, context):
    line = b"x" * (event["line"] - 1) + b"\\n"
    block = memoryview(line * (1048576 // len(line)))
    for _ in range(event["mb"]):
        view = block
        while view:
            view = view[os.write(1, view):]
    os.write(1, b"done flooding\\n")
    return {"mb": event["mb"]}
"""


def _rss_kb(pid: int) -> int:
    return rss_bytes(pid) // 1024


class RssSampler:
    """Samples a process's VmRSS every 20 ms in a thread until stopped."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, _rss_kb(self.pid))
            self._stop.wait(0.02)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _wait_for_newest(server: InvokeServer, function: str, last: str) -> list[str]:
    """The newest few log messages, once `last` is among them (polled, with a deadline)."""

    def newest() -> list[str] | None:
        answer = httpx.get(
            f"{server.url}/_lambdad/functions/{function}/logs",
            params={"tail": "1", "limit": "5"},
            timeout=30,
            auth=http_auth(server.url),
        )
        answer.raise_for_status()
        messages = [event["message"] for event in answer.json()["events"]]
        return messages if any(message.startswith(last) for message in messages) else None

    return wait_until(newest, f"{last!r} in the log store", timeout_s=120, interval_s=0.1)


def _store_bytes(data_dir: Path) -> int:
    """The SQLite files (database, WAL, shared memory)."""
    return sum(path.stat().st_size for path in data_dir.glob("lambdad.db*"))


@pytest.fixture
def flood_server(tmp_path: Path) -> Iterator[InvokeServer]:
    reason = sandbox_missing_reason()
    if reason:
        pytest.skip(reason)
    env = {"LAMBDAD_LOGS_MAX_BYTES": str(CAP_BYTES)}
    server = InvokeServer(tmp_path / "data", ["--sandbox", "bwrap"], env)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_a_flood_of_output_leaves_memory_flat_and_disk_within_the_cap(
    flood_server: InvokeServer,
) -> None:
    client: Any = flood_server.client()
    name = create_function(client, "flood", {"app.py": FLOOD_SOURCE}, MemorySize=1769, Timeout=300)
    invoke_json(client, name, {"mb": 4, "line": 100})  # warm: imports, caches, pages
    assert flood_server.process is not None
    pid = flood_server.process.pid
    baseline_kb = _rss_kb(pid)

    started = time.monotonic()
    with RssSampler(pid) as sampler:
        payload, response = invoke_json(client, name, {"mb": FLOOD_MB, "line": 100}, LogType="Tail")
        request_id = response["ResponseMetadata"]["RequestId"]
        newest = _wait_for_newest(flood_server, name, f"REPORT RequestId: {request_id}")
    elapsed = time.monotonic() - started
    grown_mb = (sampler.peak_kb - baseline_kb) / 1024
    stored = _store_bytes(flood_server.data_dir)
    print(
        f"\nflood {FLOOD_MB} MB in {elapsed:.1f} s: server RSS {baseline_kb // 1024} MB -> "
        f"peak {sampler.peak_kb // 1024} MB (+{grown_mb:.1f} MB); "
        f"log store files {stored / 2**20:.1f} MB (cap {CAP_BYTES >> 20} MB)"
    )
    assert payload == {"mb": FLOOD_MB}, payload
    assert "FunctionError" not in response
    tail = base64.b64decode(response["LogResult"])
    assert len(tail) <= 4096 and b"done flooding\n" in tail and b"REPORT RequestId" in tail
    assert grown_mb < RSS_SLACK_MB
    assert stored <= CAP_BYTES
    assert "evicted the oldest" in flood_server.full_log()
    # The newest events survive eviction; the oldest are gone.
    assert newest[-3:-1] == ["done flooding", f"END RequestId: {request_id}"], newest
    oldest = flood_server.log_events(name)[0]
    assert not any("START RequestId" in event["message"] for event in oldest), oldest[:3]
