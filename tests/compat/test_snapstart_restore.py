"""SnapStart versions restored from their template, as AWS's behave: Init once per version
at PublishVersion, the hooks called where AWS calls them, environments that share no
ids, randomness, /tmp, pid namespace or cgroup, Restore Duration in REPORT, and the
template gone with its function."""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from support.cost import usage_by_type
from support.lambda_calls import unique, wait_active
from support.server import ROLE, LambdadServer, boto3_client
from support.waiting import wait_until
from support.zips import make_zip

pytestmark = pytest.mark.compat

ON = {"ApplyOn": "PublishedVersions"}

APP = """
import os, random, time
from snapshot_restore_py import register_after_restore, register_before_snapshot

INIT_TOKEN = os.urandom(8).hex()  # made once per Init
EVENTS = []
with open("/tmp/from-init", "w") as f:
    f.write(INIT_TOKEN)


@register_before_snapshot
def before():
    EVENTS.append("before")


register_after_restore(lambda tag: EVENTS.append(f"after {tag}"), "x")


def handler(event, context):
    if event.get("oom"):
        hog = []
        while True:
            hog.append(bytearray(16 << 20))
    mine = f"/tmp/{context.aws_request_id}"
    open(mine, "w").close()
    time.sleep(event.get("hold", 0))  # keeps this environment busy: the next one is new
    return {
        "init": INIT_TOKEN,
        "events": EVENTS,
        "request_id": context.aws_request_id,
        "urandom": os.urandom(16).hex(),
        "random": random.random(),
        "tmp": sorted(os.listdir("/tmp")),
        "from_init": open("/tmp/from-init").read(),
        "pid": os.getpid(),
        "pid_ns": os.readlink("/proc/self/ns/pid"),
        "cgroup": open("/proc/self/cgroup").read().strip(),
        "init_type": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"),
        "stream": os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME"),
    }
"""


@pytest.fixture
def restoring(server: LambdadServer) -> Iterator[None]:
    if server.backend != "bwrap":
        pytest.skip("restores need the bwrap backend")
    yield


def publish(client: Any, source: str = APP, **config: Any) -> str:
    """A python3.12 function with SnapStart on and its version 1; returns its name."""
    name = unique("snaprestore")
    client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": make_zip({"app.py": source})},
        SnapStart=ON,
        MemorySize=128,
        **config,
    )
    wait_active(client, name)
    client.publish_version(FunctionName=name)
    return name


def settled(client: Any, name: str, qualifier: str = "1") -> dict[str, Any]:
    """The version's configuration once it is no longer Pending."""

    def check() -> dict[str, Any] | None:
        config: dict[str, Any] = client.get_function_configuration(
            FunctionName=name, Qualifier=qualifier
        )
        return None if config["State"] == "Pending" else config

    return wait_until(check, f"{name}:{qualifier} leaves Pending")


def invoke(client: Any, name: str, event: dict[str, Any]) -> tuple[dict[str, Any], str]:
    answer = client.invoke(
        FunctionName=name, Qualifier="1", Payload=json.dumps(event).encode(), LogType="Tail"
    )
    body = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer, body
    return body, base64.b64decode(answer["LogResult"]).decode()


def report_fields(log: str) -> dict[str, float]:
    """The REPORT line's figures by name ("Duration", "Billed Restore Duration", ...)."""
    line = next(line for line in log.splitlines() if line.startswith("REPORT RequestId: "))
    return {name: float(value) for name, value in REPORT_FIELD.findall(line)}


REPORT_FIELD = re.compile(r"\t([A-Za-z ]+): ([\d.]+) (?:ms|MB)")


def memory_group(cgroups: str) -> tuple[Path, str]:
    """The host dir of the memory cgroup a function reports in /proc/self/cgroup (v1's
    memory hierarchy or v2's), and the file that holds its limit there."""
    lines = dict(line.split(":", 2)[1:] for line in cgroups.splitlines())
    if "memory" in lines:
        root, limit, leaf = Path("/sys/fs/cgroup/memory"), "memory.limit_in_bytes", lines["memory"]
    else:
        root, limit, leaf = Path("/sys/fs/cgroup"), "memory.max", lines[""]
    name = leaf.rsplit("/", 1)[-1]
    found = [p for p in root.rglob(name) if p.is_dir()]
    assert len(found) == 1, (cgroups, found)
    return found[0], limit


def holders(name: str) -> list[int]:
    """Host pids whose environment names the function (its template, its environments)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if f"AWS_LAMBDA_FUNCTION_NAME={name}".encode() in environ.split(b"\0"):
            pids.append(int(entry.name))
    return pids


@pytest.mark.usefixtures("restoring")
def test_versions_are_initialised_once_and_restored_apart(lambda_client: Any) -> None:
    name = publish(lambda_client)
    config = settled(lambda_client, name)
    assert config["State"] == "Active"
    assert config["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
    latest = lambda_client.get_function_configuration(FunctionName=name)
    assert latest["SnapStart"]["OptimizationStatus"] == "Off"

    with ThreadPoolExecutor(2) as pool:
        first, second = pool.map(lambda _: invoke(lambda_client, name, {"hold": 1.5}), range(2))
    (a, a_log), (b, b_log) = first, second

    # Init ran once (in the template); the hooks where AWS runs them.
    assert a["init"] == b["init"] == a["from_init"] == b["from_init"]
    assert a["events"] == b["events"] == ["before", "after x"]
    assert a["init_type"] == "snap-start"
    # Two environments, nothing unique shared.
    assert a["stream"] != b["stream"]
    assert a["request_id"] != b["request_id"]
    assert a["urandom"] != b["urandom"]
    assert a["random"] != b["random"]
    assert a["pid_ns"] != b["pid_ns"]
    assert a["cgroup"] != b["cgroup"]
    # Each its own /tmp: the template's file, then only its own request's.
    assert a["tmp"] == sorted(["from-init", a["request_id"]])
    assert b["tmp"] == sorted(["from-init", b["request_id"]])
    for cgroups in (a["cgroup"], b["cgroup"]):
        group, limit = memory_group(cgroups)
        assert (group / limit).read_text().strip() == str(128 << 20)
    for log in (a_log, b_log):
        assert "Init Duration" not in log
        report = report_fields(log)
        # AWS bills the runtime's part of a restore, in the Billed Duration too.
        assert 1 <= report["Billed Restore Duration"] <= math.ceil(report["Restore Duration"])
        # Billed from the unrounded Duration; the line prints it to 0.01 ms.
        restore = report["Billed Restore Duration"]
        lowest = math.ceil(report["Duration"] - 0.005 + restore)
        highest = math.ceil(report["Duration"] + 0.005 + restore)
        assert lowest <= report["Billed Duration"] <= highest

    # A warm invoke: no restore reported.
    _, warm_log = invoke(lambda_client, name, {})
    assert "Restore Duration" not in warm_log and "Init Duration" not in warm_log


@pytest.mark.usefixtures("restoring")
def test_restore_lines_are_in_the_log_group(lambda_client: Any, server: LambdadServer) -> None:
    name = publish(lambda_client)
    settled(lambda_client, name)
    invoke(lambda_client, name, {})
    logs = boto3_client(server.url, service="logs")

    def lines() -> list[str] | None:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
        found = [e["message"] for e in events]
        return found if any(m.startswith("RESTORE_REPORT") for m in found) else None

    found = wait_until(lines, "the RESTORE_REPORT line")
    assert any(m.startswith("RESTORE_START Runtime Version: python:3.12") for m in found)
    assert any(m.startswith("RESTORE_REPORT Restore Duration: ") for m in found)


@pytest.mark.usefixtures("restoring")
def test_an_oom_in_one_environment_hurts_no_other(lambda_client: Any) -> None:
    name = publish(lambda_client)
    settled(lambda_client, name)
    with ThreadPoolExecutor(2) as pool:
        held = pool.submit(invoke, lambda_client, name, {"hold": 1.5})
        answer = lambda_client.invoke(FunctionName=name, Qualifier="1", Payload=b'{"oom": true}')
        survivor, _ = held.result()
    assert answer.get("FunctionError") == "Unhandled"
    assert survivor["events"] == ["before", "after x"]
    # The template lives on: a new environment is restored from it.
    body, log = invoke(lambda_client, name, {})
    assert body["init"] == survivor["init"]


@pytest.mark.usefixtures("restoring")
def test_deleting_the_function_removes_its_template(lambda_client: Any) -> None:
    name = publish(lambda_client)
    settled(lambda_client, name)
    body, _ = invoke(lambda_client, name, {})
    group, _ = memory_group(body["cgroup"])
    assert holders(name), "the template and its environment run"
    lambda_client.delete_function(FunctionName=name)
    wait_until(lambda: not holders(name), "no process of the function is left")
    wait_until(lambda: not group.exists(), "its environment's cgroup is gone")


@pytest.mark.usefixtures("restoring")
def test_a_failed_init_fails_the_version(lambda_client: Any) -> None:
    name = publish(lambda_client, "raise RuntimeError('no snapshot for you')\n")
    config = settled(lambda_client, name)
    assert config["State"] == "Failed"
    assert config["StateReasonCode"] == "FunctionError"
    assert "no snapshot for you" in config["StateReason"]


@pytest.mark.usefixtures("restoring")
def test_a_version_whose_init_leaves_a_thread_runs_on_demand(lambda_client: Any) -> None:
    source = (
        "import threading, time\n"
        "threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()\n"
        "def handler(event, context):\n"
        "    return 'ok'\n"
    )
    name = publish(lambda_client, source)
    config = settled(lambda_client, name)
    # A fork would lose the thread: no snapshot, and the version says so.
    assert config["State"] == "Active"
    assert config["SnapStart"]["OptimizationStatus"] == "Off"
    answer = lambda_client.invoke(FunctionName=name, Qualifier="1", LogType="Tail")
    assert json.loads(answer["Payload"].read()) == "ok"
    assert "Init Duration: " in base64.b64decode(answer["LogResult"]).decode()


def test_provisioned_concurrency_is_refused(lambda_client: Any) -> None:
    name = publish(lambda_client)
    settled(lambda_client, name)
    with pytest.raises(ClientError) as info:
        lambda_client.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1
        )
    error = info.value.response["Error"]
    assert error["Code"] == "InvalidParameterValueException"
    assert "SnapStart" in error["Message"]


def test_latest_runs_init_as_on_demand(lambda_client: Any) -> None:
    name = publish(lambda_client)
    answer = lambda_client.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
    log = base64.b64decode(answer["LogResult"]).decode()
    assert "Init Duration: " in log and "Restore Duration" not in log
    body = json.loads(answer["Payload"].read())
    assert body["events"] == [] and body["init_type"] == "on-demand"


# ---- the restored runtime talks to the host directly (`runtimes/direct.py`) ----------------

RUNTIME_APP = """
import gc, os, time

def handler(event, context):
    action = event.get("action")
    if action == "print":  # more than a pipe holds, then the result
        for i in range(event["lines"]):
            print(f"line {i} " + "x" * 100)
        print("the last line before the result", flush=True)
    elif action == "exit":
        os._exit(3)
    elif action == "sleep":
        time.sleep(event["seconds"])
    elif action == "garbage":  # what a function can do: write on its runtime's channel
        client = next(o for o in gc.get_objects() if type(o).__name__ == "PrivateClient")
        client.sock.sendall(b"\\x00\\x00\\x00\\x05\\x00\\x00\\x00\\x00{nope")
        time.sleep(30)  # the host does not wait for it
    time.sleep(event.get("hold", 0))
    return {"pid_ns": os.readlink("/proc/self/ns/pid"), "init": os.getppid()}
"""


def invoke_raw(client: Any, name: str, event: dict[str, Any]) -> tuple[Any, dict[str, Any], str]:
    """(payload, the boto3 response, the log tail) of an invoke of version 1."""
    answer = client.invoke(
        FunctionName=name, Qualifier="1", Payload=json.dumps(event).encode(), LogType="Tail"
    )
    body = json.loads(answer["Payload"].read())
    return body, answer, base64.b64decode(answer["LogResult"]).decode()


def restored_anew(client: Any, name: str, before: dict[str, Any]) -> None:
    """The next invoke runs in a new environment restored from the same template."""
    body, log = invoke(client, name, {})
    assert body["pid_ns"] != before["pid_ns"]
    assert "Restore Duration: " in log and "Init Duration" not in log


@pytest.mark.usefixtures("restoring")
def test_a_restored_runtimes_output_reaches_the_log_before_its_end(lambda_client: Any) -> None:
    name = publish(lambda_client, RUNTIME_APP)
    settled(lambda_client, name)
    for _ in range(2):  # the restore's first invoke, then a warm one
        body, answer, log = invoke_raw(lambda_client, name, {"action": "print", "lines": 3000})
        assert "FunctionError" not in answer, body
        assert body["init"] == 1  # the runtime's parent is the environment's pid 1
        last = log.index("the last line before the result")
        assert last < log.index("END RequestId: ") < log.index("REPORT RequestId: ")


@pytest.mark.usefixtures("restoring")
def test_a_restored_runtime_that_exits_or_times_out_ends_only_its_environment(
    lambda_client: Any,
) -> None:
    name = publish(lambda_client, RUNTIME_APP, Timeout=3)
    settled(lambda_client, name)
    first, _ = invoke(lambda_client, name, {})

    body, answer, log = invoke_raw(lambda_client, name, {"action": "exit"})
    assert answer["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in body["errorMessage"]
    restored_anew(lambda_client, name, first)

    second, _ = invoke(lambda_client, name, {})
    body, answer, log = invoke_raw(lambda_client, name, {"action": "sleep", "seconds": 30})
    assert body["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 3.00 seconds" in body["errorMessage"]
    restored_anew(lambda_client, name, second)


@pytest.mark.usefixtures("restoring")
def test_a_hostile_frame_from_a_restored_runtime_poisons_only_its_environment(
    lambda_client: Any,
) -> None:
    name = publish(lambda_client, RUNTIME_APP)
    settled(lambda_client, name)
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(invoke, lambda_client, name, {"hold": 1.5})
        body, answer, log = invoke_raw(lambda_client, name, {"action": "garbage"})
        survivor, _ = held.result()
    assert answer["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.Unknown"
    assert "nope" not in json.dumps(body)  # nothing from inside the sandbox in the answer
    # The other environment (and the template) live on.
    again, _ = invoke(lambda_client, name, {})
    assert again["pid_ns"] == survivor["pid_ns"]


@pytest.mark.usefixtures("restoring")
def test_a_restore_is_billed_per_gb_and_its_runtimes_part_as_duration(
    lambda_client: Any, server: LambdadServer
) -> None:
    name = publish(lambda_client, RUNTIME_APP)  # 128 MB
    settled(lambda_client, name)
    _, cold = invoke(lambda_client, name, {})
    _, warm = invoke(lambda_client, name, {})
    assert "Restore Duration" in cold and "Restore Duration" not in warm
    billed = sum(report_fields(log)["Billed Duration"] for log in (cold, warm))

    def recorded() -> dict[str, float] | None:
        found = usage_by_type(server.url, name)
        return found if found.get("Request") == 2 else None

    usage = wait_until(recorded, "the invocations' usage to be written")
    assert usage["Lambda-SnapStart-Restore"] == pytest.approx(128 / 1024)  # one restore
    assert usage["Lambda-GB-Second"] == pytest.approx(billed / 1000 * 128 / 1024, abs=1e-9)
