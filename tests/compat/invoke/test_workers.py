"""`lambdad server --workers 2` against live bwrap sandboxes: a primary and a secondary
accepting on one port (lambdad.workers).

Which process served an Invoke is read from the server's log: a secondary's lines
carry "[worker 1]" after the logger's name, and a request it forwarded is the
primary's line, ending "via worker 1". Several boto3 clients (each its own
keep-alive connection, given by the primary to the process with the fewest open
ones) make both serve.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families

from compat.invoke.conftest import running_server, start_server
from compat.invoke.streaming_bootstrap import BOOTSTRAP
from compat.invoke.test_concurrency_limits import SLOW_SOURCE, max_overlap
from lambdad.sandbox.backend import usable_cgroup_layout
from lambdad.sandbox.reclaim import default_cgroup_parent
from support.identities import add_role, role_credentials
from support.invoke import InvokeServer, create_function, invoke_json
from support.lambda_calls import function_arn, unique
from support.server import ACCOUNT_ID, REGION, boto3_client, signed_get
from support.waiting import DEFAULT_TIMEOUT_S, wait_until

pytestmark = pytest.mark.compat

VERSIONED = """
def handler(event, context):
    return {"code": "v1", "tag": event.get("tag")}
"""
RECORDER = """
import json

def handler(event, context):
    print("RECORD " + json.dumps(event))
"""
CREDENTIALS = """
import os

def handler(event, context):
    keys = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
    return {k: os.environ[k] for k in keys}
"""
PRINTER = """
def handler(event, context):
    for line in event.get("lines", []):
        print(line)
"""
MAX_CLIENTS = 48
"""Connections opened, at most, until both processes served one: each new one goes to
the process with fewer open connections, so both get one once the imbalance that
earlier clients' open connections left is made up."""


@pytest.fixture(scope="module")
def workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InvokeServer]:
    # Functions reach the test on loopback (a stream waits for its signal).
    args = ("--workers", "2", "--network", "host")
    server = start_server(tmp_path_factory, "workers", args=args)
    try:
        yield server
    finally:
        server.stop()


def served_by(server: InvokeServer, function: str) -> Counter[str]:
    """How many Invokes of `function` each process answered itself ("primary",
    "worker 1"), and how many a secondary forwarded ("forwarded")."""
    pattern = re.compile(
        r"lambdad\.api(\[worker \d+\])?: \S+ POST /2015-03-31/functions/"
        + re.escape(function)
        + r"/invocations \d+ [\d.]+ms( via worker \d+)?"
    )
    counts: Counter[str] = Counter()
    for found in pattern.finditer(server.full_log()):
        if found.group(2):
            counts["forwarded"] += 1
        else:
            counts[found.group(1)[1:-1] if found.group(1) else "primary"] += 1
    return counts


def connections_at_once(server: InvokeServer, count: int) -> Counter[str]:
    """Which process ("primary", "worker 1") accepted each of `count` keep-alive
    connections opened at once (kept open until all are answered), from the lines
    of their first requests (a ListFunctions, which a secondary forwards: "via
    worker 1"; nothing else lists functions meanwhile)."""
    lines = re.compile(r"GET /2015-03-31/functions/? 200 [\d.]+ms( via worker \d+)?")
    before = len(lines.findall(server.full_log()))
    clients = [server.client() for _ in range(count)]
    with ThreadPoolExecutor(max_workers=count) as threads:
        assert len(list(threads.map(lambda client: client.list_functions(), clients))) == count

    def written() -> list[str]:
        found: list[str] = lines.findall(server.full_log())[before:]
        return found if len(found) == count else []

    vias = wait_until(written, "their lines", 30, 0.02)
    return Counter(via.strip().removeprefix("via ") if via else "primary" for via in vias)


def invoke_on(server: InvokeServer, client: Any, function: str, event: Any) -> tuple[Any, str]:
    """Invoke (nothing else invoking `function` meanwhile): the payload, and which
    process served it, once its request line is written (after the response is sent)."""
    before = served_by(server, function)
    body, _ = invoke_json(client, function, event)

    def written() -> list[str]:
        after = served_by(server, function)
        return [key for key in after if after[key] > before[key]]

    (process,) = wait_until(written, "the invoke's request line", 30, 0.02)
    return body, process


def clients_on_both(server: InvokeServer, function: str) -> list[Any]:
    """Clients, each with one warm connection, until both processes served one."""
    clients: list[Any] = []
    seen: set[str] = set()
    while len(clients) < MAX_CLIENTS:
        client = server.client()
        seen.add(invoke_on(server, client, function, {"tag": "warm"})[1])
        clients.append(client)
        if {"primary", "worker 1"} <= seen:
            return clients
    raise AssertionError(f"{MAX_CLIENTS} connections, all to one process: {seen}")


def client_on(server: InvokeServer, function: str, process: str) -> Any:
    """A client whose keep-alive connection is to `process` ("primary", "worker 1")."""
    for _ in range(MAX_CLIENTS):
        client = server.client()
        if invoke_on(server, client, function, {})[1] == process:
            return client
    raise AssertionError(f"{MAX_CLIENTS} connections, none to {process}")


def lines_written(server: InvokeServer, function: str, count: int) -> None:
    """Wait until `count` Invoke lines of `function` are in the log."""
    wait_until(lambda: served_by(server, function).total() >= count, "the lines", 30, 0.02)


def forwarded(server: InvokeServer, function: str) -> bool:
    """Whether the secondary forwarded some invoke of `function` (its line written)."""
    wait_until(lambda: served_by(server, function)["forwarded"], "a forwarded invoke", 30, 0.05)
    return True


def test_invokes_run_in_both_processes_and_a_code_update_is_read_by_every_one(
    workers: InvokeServer,
) -> None:
    lam = workers.client()
    name = create_function(lam, unique("spread"), {"app.py": VERSIONED})
    clients = clients_on_both(workers, name)

    zipped = _zip({"app.py": VERSIONED.replace('"v1"', '"v2"')})
    lam.update_function_code(FunctionName=name, ZipFile=zipped)
    # No wait for the update: every connection's next invoke runs the new code.
    results = [invoke_on(workers, client, name, {"tag": i}) for i, client in enumerate(clients)]
    # (A connection idle past uvicorn's keep-alive is made anew, maybe to the other
    # process: new ones until both processes answered since the update.)
    while {p for _, p in results} != {"primary", "worker 1"} and len(results) < MAX_CLIENTS:
        results.append(invoke_on(workers, workers.client(), name, {}))
    assert [body["code"] for body, _ in results] == ["v2"] * len(results)
    assert {process for _, process in results} == {"primary", "worker 1"}
    lam.delete_function(FunctionName=name)


def test_a_function_with_reserved_concurrency_is_counted_in_one_process(
    workers: InvokeServer,
) -> None:
    lam = workers.client()
    name = create_function(lam, unique("reserved"), {"app.py": SLOW_SOURCE})
    clients = clients_on_both(workers, name)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)
    outcomes = _parallel(clients[:10] * (10 // len(clients[:10]) + 1), name, 10, 0.8)
    lam.delete_function(FunctionName=name)
    ran = [o for o in outcomes if isinstance(o, dict)]
    throttled = [o for o in outcomes if isinstance(o, str)]
    assert ran and throttled, outcomes
    assert set(throttled) == {
        "TooManyRequestsException/ReservedFunctionConcurrentInvocationLimitExceeded"
    }
    assert max_overlap([(o["start"], o["end"]) for o in ran]) <= 2
    # The secondary ran none of them itself: it forwarded its share to the primary.
    assert forwarded(workers, name)


def test_an_async_invoke_through_either_process_reaches_its_destination(
    workers: InvokeServer,
) -> None:
    lam = workers.client()
    echo = create_function(lam, unique("echo"), {"app.py": VERSIONED})
    recorder = create_function(lam, unique("recorder"), {"app.py": RECORDER})
    lam.put_function_event_invoke_config(
        FunctionName=echo, DestinationConfig={"OnSuccess": {"Destination": function_arn(recorder)}}
    )
    sent = 0
    # Each on a new connection, until the secondary took one (and forwarded it).
    while sent < 4 or not served_by(workers, echo)["forwarded"]:
        assert sent < MAX_CLIENTS, "no connection to the secondary"
        answer = workers.client().invoke(
            FunctionName=echo, InvocationType="Event", Payload=json.dumps({"tag": sent}).encode()
        )
        assert answer["StatusCode"] == 202
        sent += 1
        lines_written(workers, echo, sent)

    def recorded(messages: list[str]) -> set[int]:
        records = [json.loads(m.split("RECORD ", 1)[1]) for m in messages if "RECORD " in m]
        return {r["responsePayload"]["tag"] for r in records}

    messages = workers.wait_for_logs(recorder, lambda m: len(recorded(m)) == sent)
    assert recorded(messages) == set(range(sent))


def test_metrics_count_the_invokes_of_every_process(workers: InvokeServer) -> None:
    lam = workers.client()
    name = create_function(lam, unique("counted"), {"app.py": VERSIONED})
    clients = clients_on_both(workers, name)  # one invoke each, some in each process
    for client in clients:
        invoke_json(client, name, {})
    invokes = 2 * len(clients)
    # The scrape, through either process: the primary adds the secondary's numbers.
    text = signed_get(clients[-1], f"{workers.url}/metrics").text
    counted = [
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "lambda_invocations_total" and s.labels["function_name"] == name
    ]
    assert sum(counted) == invokes, text
    # CloudWatch: every process's invokes are stored before the query is answered.
    now = datetime.now(UTC)
    points = boto3_client(workers.url, service="cloudwatch").get_metric_statistics(
        Namespace="AWS/Lambda", MetricName="Invocations", Period=60, Statistics=["Sum"],
        Dimensions=[{"Name": "FunctionName", "Value": name}],
        StartTime=now - timedelta(minutes=5), EndTime=now + timedelta(minutes=1),
    )["Datapoints"]  # fmt: skip
    assert sum(p["Sum"] for p in points) == invokes
    lam.delete_function(FunctionName=name)


def test_a_response_stream_through_the_secondary_comes_chunk_by_chunk(
    workers: InvokeServer,
) -> None:
    lam = workers.client()
    name = create_function(
        lam,
        unique("streamer"),
        {"bootstrap": BOOTSTRAP},
        runtime="provided.al2023",
        handler="stream.handler",
        executable=("bootstrap",),
        Timeout=30,
    )
    client = client_on(workers, name, "worker 1")
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(DEFAULT_TIMEOUT_S)
        event = {"action": "signal", "port": listener.getsockname()[1]}
        response = client.invoke_with_response_stream(
            FunctionName=name, Payload=json.dumps(event).encode()
        )
        events = iter(response["EventStream"])
        # The function waits for the signal: this chunk came through the secondary first.
        assert next(events)["PayloadChunk"]["Payload"] == b"first|"
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"go")
            rest = [e for e in events if "PayloadChunk" in e or "InvokeComplete" in e]
    assert rest[0]["PayloadChunk"]["Payload"] == b"second"
    assert "ErrorCode" not in rest[-1]["InvokeComplete"]
    # Its request line is written once the response has ended (the client may read
    # the end first).
    line = rf"POST /2021-11-15/functions/{name}/response-streaming-invocations 200 \S+ via worker 1"
    wait_until(lambda: re.search(line, workers.full_log()), "the stream's request line", 30, 0.02)


def test_live_tail_in_the_primary_sees_what_the_secondary_ran(workers: InvokeServer) -> None:
    lam = workers.client()
    name = create_function(lam, unique("tailed"), {"app.py": PRINTER})
    invoke_json(lam, name, {})  # its log group exists now
    logs = boto3_client(workers.url, service="logs")
    group = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:/aws/lambda/{name}"
    stream = logs.start_live_tail(logGroupIdentifiers=[group])["responseStream"]
    try:
        events = iter(stream)
        assert "sessionStart" in next(events)
        for _ in range(MAX_CLIENTS):  # new connections until the secondary ran one
            marker = uuid.uuid4().hex
            event = {"lines": [f"ran {marker}"]}
            if invoke_on(workers, workers.client(), name, event)[1] == "worker 1":
                break
        else:
            raise AssertionError(f"{MAX_CLIENTS} connections, none to the secondary")
        deadline = time.monotonic() + DEFAULT_TIMEOUT_S
        seen: list[str] = []
        while not any(marker in line for line in seen):
            assert time.monotonic() < deadline, f"no line with {marker}: {seen}"
            update = next(events)["sessionUpdate"]  # one a second at least
            seen += [result["message"] for result in update["sessionResults"]]
    finally:
        stream.close()


def test_a_stream_closed_by_a_client_of_the_secondary_ends_in_the_primary(
    workers: InvokeServer,
) -> None:
    lam = workers.client()
    name = create_function(lam, unique("closed"), {"app.py": PRINTER})
    invoke_json(lam, name, {})  # its log group exists now
    group = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:/aws/lambda/{name}"
    tails = re.compile(r"lambdad\.api: \S+ POST / \d+ [\d.]+ms.*")
    for _ in range(MAX_CLIENTS):
        logs = boto3_client(workers.url, service="logs")  # a new connection
        before = len(tails.findall(workers.full_log()))
        stream = logs.start_live_tail(logGroupIdentifiers=[group])["responseStream"]
        session = next(iter(stream))["sessionStart"]["sessionId"]
        stream.close()
        line = _closed_session_line(workers, tails, session, before)
        if line.endswith("via worker 1"):
            return  # the secondary's client went away: the primary ended its session
    raise AssertionError(f"{MAX_CLIENTS} connections, none to the secondary")


def test_role_credentials_minted_by_either_process_sign_requests_to_any(
    workers: InvokeServer,
) -> None:
    lam = workers.client()
    allowed = {"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}
    role = add_role(workers, unique("invoker"), {"Version": "2012-10-17", "Statement": [allowed]})
    name = create_function(lam, unique("creds"), {"app.py": CREDENTIALS}, role=role)
    target = create_function(lam, unique("target"), {"app.py": VERSIONED})
    clients = clients_on_both(workers, name)  # environments (and sessions) in both
    sessions = {e["AWS_ACCESS_KEY_ID"]: e for e in (invoke_json(c, name)[0] for c in clients)}
    assert len(sessions) >= 2
    for env in sessions.values():
        # Each a new connection: to the process that minted the session, or the other.
        for _ in range(8):
            as_role = boto3_client(workers.url, credentials=role_credentials(env))
            assert invoke_json(as_role, target, {"tag": "as-role"})[0]["code"] == "v1"


def test_connections_are_split_evenly_the_account_limit_holds_and_a_stop_leaves_nothing(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    args = ("--workers", "2", "--concurrent-executions", "3")
    with running_server(tmp_path_factory, "workers-limit", args) as server:
        # A new server, no connection open: 4 at once go 2 to each process.
        assert connections_at_once(server, 4) == {"primary": 2, "worker 1": 2}
        lam = server.client()
        name = create_function(lam, unique("limit"), {"app.py": SLOW_SOURCE})
        clients = clients_on_both(server, name)
        outcomes = _parallel(clients * (12 // len(clients) + 1), name, 12, 0.8)
        ran = [o for o in outcomes if isinstance(o, dict)]
        throttled = [o for o in outcomes if isinstance(o, str)]
        assert ran and throttled, outcomes
        assert set(throttled) == {"TooManyRequestsException/ConcurrentInvocationLimitExceeded"}
        assert max_overlap([(o["start"], o["end"]) for o in ran]) <= 3
        served = served_by(server, name)
        assert served["primary"] and served["worker 1"]
        pids = _pids(server)
        parents = _cgroup_parents(server.data_dir)
        assert any(_sandbox_groups(parent) for parent in parents)
    assert server_stopped_cleanly(pids, parents)


def test_a_killed_primary_takes_its_secondaries_with_it(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with running_server(tmp_path_factory, "workers-orphan", ("--workers", "2")) as server:
        lam = server.client()
        name = create_function(lam, unique("orphan"), {"app.py": VERSIONED})
        clients_on_both(server, name)
        (secondary,) = _secondary_pids(server)
        # Its argv: WORKER RUN_DIR ... (the primary's private dir of sockets).
        run_dir = Path(Path(f"/proc/{secondary}/cmdline").read_bytes().split(b"\0")[4].decode())
        assert run_dir.is_dir()
        (parent,) = _cgroup_parents(server.data_dir, secondaries_only=True)
        groups = _sandbox_groups(parent)
        assert groups
        assert server.process is not None
        server.process.kill()
        server.process.wait(timeout=30)
        wait_until(lambda: not Path(f"/proc/{secondary}").exists(), "its end", 60, 0.1)
        wait_until(lambda: all(not g.exists() for g in groups), "its sandboxes gone", 60, 0.1)
        assert not run_dir.exists()


def server_stopped_cleanly(pids: list[int], parents: list[Path]) -> bool:
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists(), f"process {pid} outlived the server"
    for parent in parents:
        assert not parent.exists(), f"cgroup {parent} outlived the server"
    return True


def test_a_killed_secondary_is_restarted_and_its_sandboxes_reclaimed(
    workers: InvokeServer,
) -> None:
    lam = workers.client()
    name = create_function(lam, unique("killed"), {"app.py": VERSIONED})
    clients = clients_on_both(workers, name)
    (secondary,) = _secondary_pids(workers)
    (parent,) = _cgroup_parents(workers.data_dir, secondaries_only=True)
    groups = _sandbox_groups(parent)
    assert groups, "the secondary's environment has a cgroup"

    os.kill(secondary, signal.SIGKILL)
    # Requests go on meanwhile: a connection to the dead process fails, new ones work.
    wait_until(lambda: all(not g.exists() for g in groups), "its cgroups reclaimed", 30, 0.1)
    wait_until(lambda: _secondary_pids(workers) not in ([], [secondary]), "a new one", 60, 0.1)
    before = served_by(workers, name)["worker 1"]
    wait_until(
        lambda: (
            invoke_json(workers.client(), name, {})[0]["code"] == "v1"
            and served_by(workers, name)["worker 1"] > before
        ),
        "the restarted secondary to serve",
        60,
        0.05,
    )
    assert all(invoke_json(c, name, {})[0]["code"] == "v1" for c in [lam, *clients[:1]])
    lam.delete_function(FunctionName=name)


# -- helpers ---------------------------------------------------------------------------


def _parallel(
    clients: list[Any], name: str, count: int, sleep_s: float
) -> list[dict[str, Any] | str]:
    def call(index: int) -> dict[str, Any] | str:
        try:
            body, _ = invoke_json(clients[index], name, {"sleep": sleep_s})
            result: dict[str, Any] = body
            return result
        except ClientError as exc:
            assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 429
            return f"{exc.response['Error']['Code']}/{exc.response.get('Reason')}"

    with ThreadPoolExecutor(max_workers=count) as threads:
        return list(threads.map(call, range(count)))


def _closed_session_line(
    server: InvokeServer, tails: re.Pattern[str], session: str, before: int
) -> str:
    """The request line of Live Tail session `session`, once it ended (the tails' `before`-th)."""
    ended = f"live tail session {session} ended"
    wait_until(lambda: ended in server.full_log(), "the session's end", 30, 0.05)
    wait_until(lambda: len(tails.findall(server.full_log())) > before, "its line", 30, 0.05)
    line: str = tails.findall(server.full_log())[before]
    return line


def _zip(files: dict[str, str]) -> bytes:
    from support.zips import make_zip

    return make_zip(files)


def _secondary_pids(server: InvokeServer) -> list[int]:
    """The running secondary's pid, from the primary's latest "started" line."""
    found = re.findall(r"worker 1: started \(pid (\d+)\)", server.full_log())
    pid = int(found[-1]) if found else 0
    return [pid] if pid and Path(f"/proc/{pid}").exists() else []


def _pids(server: InvokeServer) -> list[int]:
    assert server.process is not None
    return [server.process.pid, *_secondary_pids(server)]


def _cgroup_parents(data_dir: Path, secondaries_only: bool = False) -> list[Path]:
    layout = usable_cgroup_layout()
    assert layout is not None, "these tests run as root with cgroups"
    root = next(iter(layout.roots.values()))
    dirs = [] if secondaries_only else [data_dir / "sandbox"]
    dirs += sorted(data_dir.glob("workers/*/sandbox"))
    return [root / default_cgroup_parent(d) for d in dirs]


def _sandbox_groups(parent: Path) -> list[Path]:
    return [p for p in parent.iterdir() if p.is_dir()] if parent.exists() else []
