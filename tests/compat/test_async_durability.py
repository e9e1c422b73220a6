"""Accepted async events survive a crash of the server: each runs, with its request id, after
the restart."""

from __future__ import annotations

import concurrent.futures
import http.server
import json
import threading
import time
from pathlib import Path

import pytest

from support.marks import needs_sandbox
from support.server import ROLE, LambdadServer, boto3_client, reclaim_sandboxes
from support.waiting import wait_until
from support.zips import make_zip

pytestmark = [
    pytest.mark.compat,
    *needs_sandbox,
]

COLLECTING_HANDLER = """
import json
import os
import urllib.request

def handler(event, context):
    body = json.dumps({"n": event["n"], "id": context.aws_request_id}).encode()
    urllib.request.urlopen(os.environ["COLLECTOR"], data=body, timeout=10).read()
    return event
"""
EVENTS = 500


class Collector:
    """A loopback HTTP endpoint that functions report to: which events ran, seen from outside."""

    def __init__(self, hold_after: int) -> None:
        self.seen: dict[int, set[str]] = {}
        """Event number -> the request ids it ran with."""
        self.reports = 0
        self.hold_after = hold_after
        """Past this many events, reports get no reply until `release()`: the functions
        wait in their invocations, so the kill finds events left however fast they ran."""
        self._released = threading.Event()
        self._lock = threading.Lock()
        collector = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = min(int(self.headers.get("Content-Length", "0")), 4096)
                report = json.loads(self.rfile.read(length))
                with collector._lock:
                    collector.seen.setdefault(int(report["n"]), set()).add(str(report["id"]))
                    collector.reports += 1
                    hold = len(collector.seen) > collector.hold_after
                if hold:
                    collector._released.wait(timeout=60)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        class Server(http.server.ThreadingHTTPServer):
            request_queue_size = 128  # a busy machine must not refuse a report

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def count(self) -> int:
        with self._lock:
            return len(self.seen)

    def release(self) -> None:
        self._released.set()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def test_500_events_survive_a_kill_9_midway(tmp_path: Path, own_database_url: str | None) -> None:
    collector = Collector(hold_after=EVENTS // 4)
    data_dir = tmp_path / "data"
    try:
        survive_a_kill_9(collector, data_dir, own_database_url)
    finally:
        collector.close()
        reclaim_sandboxes(data_dir)  # what the killed server left, even when the test failed


def survive_a_kill_9(collector: Collector, data_dir: Path, own_database_url: str | None) -> None:
    # Host networking lets the function report to the collector on loopback; bwrap
    # always (a busy machine must not make `auto` fall back to bare processes).
    args = ["--network", "host", "--sandbox", "bwrap"]
    # A report that fails (a busy machine) is retried after 0.2 s, not a minute.
    env = {"LAMBDAD_ASYNC_WORKERS": "4", "LAMBDAD_ASYNC_RETRY_BASE_S": "0.2"}
    first = LambdadServer(data_dir, own_database_url, args=args, env=env).start()
    try:
        client = boto3_client(first.url)
        client.create_function(
            FunctionName="collect",
            Runtime="python3.12",
            Role=ROLE,
            Handler="app.handler",
            Timeout=15,
            Environment={"Variables": {"COLLECTOR": collector.url}},
            Code={"ZipFile": make_zip({"app.py": COLLECTING_HANDLER})},
        )
        client.get_waiter("function_active_v2").wait(
            FunctionName="collect", WaiterConfig={"Delay": 0.05, "MaxAttempts": 400}
        )

        def accept(n: int) -> str:
            payload = json.dumps({"n": n}).encode()
            response = client.invoke(
                FunctionName="collect", InvocationType="Event", Payload=payload
            )
            assert response["StatusCode"] == 202
            request_id: str = response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
            return request_id

        started = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            request_ids = list(pool.map(accept, range(EVENTS)))
        accepted_s = time.monotonic() - started
        # Midway: a quarter delivered (the collector holds the rest's functions in their
        # invocations), the rest queued or running when the server dies.
        wait_until(
            lambda: collector.count() > EVENTS // 4,
            f"{EVENTS // 4} events delivered",
            timeout_s=120,
            interval_s=0.05,
        )
        delivered_before = collector.count()
    finally:
        assert first.process is not None
        first.process.kill()  # SIGKILL: no shutdown, no hand-over
        first.process.wait(timeout=30)
        collector.release()
    assert delivered_before < EVENTS, (
        "all events ran before the kill: nothing was left to survive it"
    )

    restarted = time.monotonic()
    second = LambdadServer(data_dir, own_database_url, args=args, env=env).start()
    try:
        wait_until(
            lambda: collector.count() == EVENTS,
            f"all {EVENTS} events delivered after the restart",
            timeout_s=300,
            interval_s=0.2,
        )
    except AssertionError:
        missing = sorted(set(range(EVENTS)) - set(collector.seen))[:20]
        pytest.fail(f"{len(missing)}+ events never ran, e.g. {missing}:\n{second.log()}")
    finally:
        second.stop()
    # An event runs with the request id it was accepted with, before and after the crash.
    assert all(request_ids[n] in collector.seen[n] for n in range(EVENTS))
    print(
        f"accepted {EVENTS} in {accepted_s:.1f} s; {delivered_before} delivered before the kill; "
        f"the rest {time.monotonic() - restarted:.1f} s after the restart; "
        f"{collector.reports} reports in all"
    )
