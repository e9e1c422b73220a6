"""On-demand environments forked from their version's template (`pool/preinit.py`), as
boto3 sees them: each runs Init itself (INIT_START, Init Duration, no Restore), Init
errors as a usual cold start's, nothing unique shared between two of them, and a code
update that retires the template."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from support.lambda_calls import unique, wait_active
from support.marks import one_process
from support.server import ROLE, LambdadServer, boto3_client
from support.waiting import wait_until
from support.zips import make_zip

pytestmark = pytest.mark.compat

APP = """
import os, random, sys, time

INIT_TOKEN = os.urandom(8).hex()  # made in each environment's Init
with open("/tmp/from-init", "w") as f:
    f.write(INIT_TOKEN)


def handler(event, context):
    mine = f"/tmp/{context.aws_request_id}"
    open(mine, "w").close()
    time.sleep(event.get("hold", 0))  # keeps this environment busy: the next one is new
    return {
        "code": "v1",
        "init": INIT_TOKEN,
        "request_id": context.aws_request_id,
        "urandom": os.urandom(16).hex(),
        "random": random.random(),
        "tmp": sorted(os.listdir("/tmp")),
        "from_init": open("/tmp/from-init").read(),
        "pid_ns": os.readlink("/proc/self/ns/pid"),
        "cgroup": open("/proc/self/cgroup").read().strip(),
        "init_type": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"),
        "stream": os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME"),
        "key": os.environ.get("AWS_ACCESS_KEY_ID"),
        "private": sorted(k for k in os.environ if k.startswith("_LAMBDAD")),
        "path": sys.path[:1],
        "tmp_fs": [l.split(" - ")[1].split()[0] for l in open("/proc/self/mountinfo")
                   if l.split()[4] == "/tmp"][-1],
    }
"""


@pytest.fixture
def forking(server: LambdadServer) -> Iterator[None]:
    if server.backend != "bwrap":
        pytest.skip("templates need the bwrap backend")
    yield


def deploy(client: Any, source: str = APP) -> str:
    name = unique("preinit")
    client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": make_zip({"app.py": source})},
        MemorySize=128,
    )
    wait_active(client, name)
    return name


def invoke(client: Any, name: str, event: dict[str, Any]) -> tuple[dict[str, Any], str, bool]:
    """(its answer, its log tail, whether it was an error)."""
    answer = client.invoke(FunctionName=name, Payload=json.dumps(event).encode(), LogType="Tail")
    body = json.loads(answer["Payload"].read())
    return body, base64.b64decode(answer["LogResult"]).decode(), "FunctionError" in answer


def logs_client(server: LambdadServer) -> Any:
    return boto3_client(server.url, service="logs")


def start_lines(server: LambdadServer, name: str, stream: str) -> list[str]:
    """The log stream's lines, once it has its first."""

    def lines() -> list[str] | None:
        events = logs_client(server).filter_log_events(
            logGroupName=f"/aws/lambda/{name}", logStreamNames=[stream]
        )["events"]
        return [e["message"] for e in events] or None

    return wait_until(lines, f"the lines of {stream}")


def template_ready(server: LambdadServer, name: str, count: int = 1) -> None:
    line = f"templates: template of {name}:$LATEST ready"
    wait_until(lambda: server.full_log().count(line) >= count, f"{name}'s template")


def forks(server: LambdadServer, name: str) -> int:
    return len(re.findall(rf"{name}:\$LATEST forked from its template", server.full_log()))


@one_process
@pytest.mark.usefixtures("forking")
def test_cold_starts_fork_from_the_template_and_run_init_apart(
    lambda_client: Any, server: LambdadServer
) -> None:
    name = deploy(lambda_client)
    first, first_log, _ = invoke(lambda_client, name, {})  # the usual way; the template after
    assert "Init Duration: " in first_log
    template_ready(server, name)

    with ThreadPoolExecutor(3) as pool:
        results = list(pool.map(lambda _: invoke(lambda_client, name, {"hold": 1.5}), range(3)))
    cold = [(body, log) for body, log, _ in results if "Init Duration: " in log]
    assert len(cold) == 2 and forks(server, name) == 2, server.log()
    (a, a_log), (b, b_log) = cold
    for body, log in cold:
        assert "Restore" not in log
        assert start_lines(server, name, body["stream"])[0].startswith(
            "INIT_START Runtime Version: python:3.12"
        )
        assert body["init_type"] == "on-demand" and body["code"] == "v1"
        assert body["private"] == [] and body["path"] == ["/var/task"]
        # Init ran in the environment itself: its own token, its own /tmp.
        assert body["init"] == body["from_init"]
        assert body["tmp"] == sorted(["from-init", body["request_id"]])
        # A disk of its own, as a usual cold start's (not a tmpfs counted as memory).
        assert body["tmp_fs"] == first["tmp_fs"] != "tmpfs"
    # Nothing unique shared between two environments, nor with the first one.
    assert len({first["init"], a["init"], b["init"]}) == 3
    assert len({first["stream"], a["stream"], b["stream"]}) == 3
    assert a["urandom"] != b["urandom"] and a["random"] != b["random"]
    assert a["pid_ns"] != b["pid_ns"] and a["cgroup"] != b["cgroup"]
    assert a["key"] and a["key"] != b["key"]

    # A warm invoke of one of them: no Init reported.
    _, warm_log, _ = invoke(lambda_client, name, {})
    assert "Init Duration" not in warm_log and "INIT_START" not in warm_log


@pytest.mark.usefixtures("forking")
def test_an_init_error_in_a_forked_environment_is_a_usual_one(
    lambda_client: Any, server: LambdadServer
) -> None:
    source = APP + "\nif os.environ.get('FAIL'):\n    raise RuntimeError('no init for you')\n"
    name = deploy(lambda_client, source)
    invoke(lambda_client, name, {})
    template_ready(server, name)
    # The configuration changes (a new template comes after the next cold start).
    lambda_client.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"FAIL": "1"}}
    )
    wait_active(lambda_client, name)
    usual, usual_log, usual_failed = invoke(lambda_client, name, {})
    template_ready(server, name, 2)
    forked, forked_log, forked_failed = invoke(lambda_client, name, {})
    assert forks(server, name) == 1, server.log()
    assert usual_failed and forked_failed
    for body in (usual, forked):
        assert body["errorType"] == "RuntimeError"
        assert body["errorMessage"] == "no init for you"
    for log in (usual_log, forked_log):
        assert "Init Duration: " in log and "Restore" not in log
    streams = logs_client(server).describe_log_streams(logGroupName=f"/aws/lambda/{name}")
    for stream in streams["logStreams"]:
        first = start_lines(server, name, stream["logStreamName"])[0]
        assert first.startswith("INIT_START Runtime Version: python:3.12")


@one_process
@pytest.mark.usefixtures("forking")
def test_a_code_update_retires_the_template(lambda_client: Any, server: LambdadServer) -> None:
    name = deploy(lambda_client)
    invoke(lambda_client, name, {})
    template_ready(server, name)
    lambda_client.update_function_code(
        FunctionName=name, ZipFile=make_zip({"app.py": APP.replace('"v1"', '"v2"')})
    )
    wait_active(lambda_client, name)
    wait_until(
        lambda: re.search(r"env tmpl\w+: destroyed \(version changed\)", server.full_log()),
        "the old template ended",
    )
    body, _, _ = invoke(lambda_client, name, {})
    assert body["code"] == "v2"
    template_ready(server, name, 2)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: invoke(lambda_client, name, {"hold": 2.0}), range(2)))
    assert [body["code"] for body, _, _ in results] == ["v2", "v2"]
    assert forks(server, name) == 1


@pytest.mark.usefixtures("forking")
def test_the_setting_off_leaves_every_cold_start_to_the_usual_way(
    tmp_path: Path, own_database_url: str | None
) -> None:
    env = {"LAMBDAD_PREINIT_TEMPLATES": "0"}
    with LambdadServer(tmp_path / "data", own_database_url, env=env) as off:
        client = boto3_client(off.url)
        name = deploy(client)
        invoke(client, name, {})
        with ThreadPoolExecutor(3) as pool:  # two more cold starts
            results = list(pool.map(lambda _: invoke(client, name, {"hold": 2.0}), range(3)))
        assert sum("Init Duration: " in log for _, log, _ in results) == 2
        assert "templates: template of" not in off.full_log()
        assert forks(off, name) == 0
