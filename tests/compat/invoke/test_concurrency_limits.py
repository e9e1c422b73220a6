"""Concurrency limits as invocations feel them, against live servers with bwrap sandboxes:
reserved concurrency throttles (counted from inside the function), provisioned
environments are initialised before traffic, and a function that invokes itself
forever is stopped after 16 invocations."""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from compat.invoke.conftest import start_server
from support.invoke import InvokeServer, create_function, invoke_json
from support.lambda_calls import unique, wait_provisioned
from support.server import credentials_for

pytestmark = pytest.mark.compat

SLOW_SOURCE = """
import os
import time

INIT_AT = time.time()
INIT_TYPE = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE")


def handler(event, context):
    started = time.time()
    time.sleep(event.get("sleep", 0))
    return {"start": started, "end": time.time(), "init_at": INIT_AT, "init_type": INIT_TYPE}
"""


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals running at one instant."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def report_line(response: dict[str, Any]) -> str:
    tail = base64.b64decode(response["LogResult"]).decode()
    return next(line for line in tail.splitlines() if line.startswith("REPORT"))


def test_reserved_concurrency_2_throttles_and_never_runs_more(lam: Any) -> None:
    name = create_function(lam, unique("reserved"), {"app.py": SLOW_SOURCE})
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)

    def call(_: int) -> dict[str, Any] | str:
        try:
            body, _response = invoke_json(lam, name, {"sleep": 0.6})
            result: dict[str, Any] = body
            return result
        except ClientError as exc:
            error = exc.response["Error"]
            assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 429
            assert error["Message"] == "Rate Exceeded."
            return f"{error['Code']}/{exc.response.get('Reason')}"

    try:
        with ThreadPoolExecutor(max_workers=10) as threads:
            outcomes = list(threads.map(call, range(10)))
    finally:
        lam.delete_function(FunctionName=name)
    ran = [o for o in outcomes if isinstance(o, dict)]
    throttled = [o for o in outcomes if isinstance(o, str)]
    print(f"ran {len(ran)}, throttled {len(throttled)}")
    assert throttled and ran
    assert set(throttled) == {
        "TooManyRequestsException/ReservedFunctionConcurrentInvocationLimitExceeded"
    }
    assert max_overlap([(o["start"], o["end"]) for o in ran]) <= 2


def test_reserved_concurrency_0_throttles_every_invoke(lam: Any) -> None:
    name = create_function(lam, unique("zero"), {"app.py": SLOW_SOURCE})
    try:
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
        for _ in range(3):
            with pytest.raises(ClientError) as throttled:
                invoke_json(lam, name, {})
            assert throttled.value.response["Error"]["Code"] == "TooManyRequestsException"
            assert (
                throttled.value.response["Reason"]
                == "ReservedFunctionConcurrentInvocationLimitExceeded"
            )
        lam.delete_function_concurrency(FunctionName=name)
        body, _ = invoke_json(lam, name, {})
        assert body["init_type"] == "on-demand"
    finally:
        lam.delete_function(FunctionName=name)


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InvokeServer]:
    """A server this module may restart, whose functions reach lambdad's API from
    inside (`--network host`, until functions get their own path to it)."""
    server = start_server(tmp_path_factory, "concurrency", args=("--network", "host"))
    try:
        yield server
    finally:
        server.stop()


def test_provisioned_environments_are_ready_before_the_first_invoke(
    own_server: InvokeServer,
) -> None:
    provisioned_server = own_server
    lam = provisioned_server.client()
    name = create_function(lam, unique("prov"), {"app.py": SLOW_SOURCE})
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=1
    )
    ready = wait_provisioned(lam, name, version)
    assert ready["Status"] == "READY", ready
    assert ready["AllocatedProvisionedConcurrentExecutions"] == 1

    asked_at = time.time()
    body, response = invoke_json(lam, name, {}, Qualifier=version, LogType="Tail")
    assert body["init_type"] == "provisioned-concurrency"
    assert body["init_at"] < asked_at  # initialised ahead of traffic
    assert "Init Duration" not in report_line(response)

    # Spill-over above the provisioned number runs on demand, with a cold start.
    with ThreadPoolExecutor(max_workers=2) as threads:
        results = list(
            threads.map(
                lambda _: invoke_json(lam, name, {"sleep": 0.5}, Qualifier=version, LogType="Tail"),
                range(2),
            )
        )
    init_types = sorted(body["init_type"] for body, _ in results)
    assert init_types == ["on-demand", "provisioned-concurrency"]
    on_demand = next(r for body, r in results if body["init_type"] == "on-demand")
    assert "Init Duration" in report_line(on_demand)

    # On an alias instead: its invokes get the environments.
    lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier=version)
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=1
    )
    assert wait_provisioned(lam, name, "live")["Status"] == "READY"
    body, response = invoke_json(lam, name, {}, Qualifier="live", LogType="Tail")
    assert body["init_type"] == "provisioned-concurrency"
    assert "Init Duration" not in report_line(response)

    # Configs survive a restart: the environment is provisioned again on start.
    provisioned_server.stop()
    provisioned_server.start()
    lam = provisioned_server.client()
    assert wait_provisioned(lam, name, "live")["Status"] == "READY"
    asked_at = time.time()
    body, response = invoke_json(lam, name, {}, Qualifier="live", LogType="Tail")
    assert body["init_type"] == "provisioned-concurrency"
    assert body["init_at"] < asked_at
    assert "Init Duration" not in report_line(response)
    lam.delete_function(FunctionName=name)


LOOP_SOURCE = """
import datetime
import hashlib
import hmac
import json
import os
import urllib.parse
import urllib.request


def sigv4(url, body):
    # Signs as an AWS SDK does (stdlib only), with the key the test gave the function.
    parts = urllib.parse.urlsplit(url)
    amz_date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    scope = f"{amz_date[:8]}/us-east-1/lambda/aws4_request"
    canonical = "\\n".join([
        "POST", parts.path, "", f"host:{parts.netloc}\\nx-amz-date:{amz_date}\\n",
        "host;x-amz-date", hashlib.sha256(body).hexdigest(),
    ])
    to_sign = "\\n".join([
        "AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()
    ])
    key = ("AWS4" + os.environ["CALLER_SECRET"]).encode()
    for part in (amz_date[:8], "us-east-1", "lambda", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    credential = f"{os.environ['CALLER_KEY_ID']}/{scope}"
    return {
        "X-Amz-Date": amz_date,
        "Authorization": f"AWS4-HMAC-SHA256 Credential={credential}, "
        f"SignedHeaders=host;x-amz-date, Signature={signature}",
    }


def handler(event, context):
    depth = event.get("depth", 0) + 1
    print(f"depth {depth}")
    if depth >= event.get("stop_at", 10**6):
        return depth
    url = f"{os.environ['ENDPOINT']}/2015-03-31/functions/{context.function_name}/invocations"
    body = json.dumps({**event, "depth": depth}).encode()
    request = urllib.request.Request(
        url,
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Amz-Invocation-Type": "Event",
            "X-Amzn-Trace-Id": os.environ["_X_AMZN_TRACE_ID"],
            **sigv4(url, body),
        },
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).read()
    return depth
"""


def caller_environment(server: InvokeServer) -> dict[str, dict[str, str]]:
    """What the looping function needs to call the API: its URL and a key to sign with."""
    key = credentials_for(server.url)
    return {
        "Variables": {
            "ENDPOINT": server.url,
            "CALLER_KEY_ID": key.access_key_id,
            "CALLER_SECRET": key.secret_access_key,
        }
    }


def depths(messages: list[str]) -> list[int]:
    return [int(m.split()[1]) for m in messages if re.fullmatch(r"depth \d+\s*", m)]


def test_a_function_invoking_itself_forever_is_stopped_at_16(
    own_server: InvokeServer,
) -> None:
    server = own_server
    lam = server.client()
    name = create_function(
        lam,
        unique("loop"),
        {"app.py": LOOP_SOURCE},
        Environment=caller_environment(server),
    )
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({}).encode())
    stopped = f"function {name}: Lambda has detected that the function is being invoked in a"
    deadline = time.monotonic() + 60
    while stopped not in server.full_log() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stopped in server.full_log()
    messages = server.wait_for_logs(name, lambda seen: 16 in depths(seen))
    assert sorted(depths(messages)) == list(range(1, 17))


def test_a_function_that_allows_recursion_goes_past_16(own_server: InvokeServer) -> None:
    server = own_server
    lam = server.client()
    name = create_function(
        lam,
        unique("allow"),
        {"app.py": LOOP_SOURCE},
        Environment=caller_environment(server),
    )
    lam.put_function_recursion_config(FunctionName=name, RecursiveLoop="Allow")
    lam.invoke(
        FunctionName=name, InvocationType="Event", Payload=json.dumps({"stop_at": 20}).encode()
    )
    messages = server.wait_for_logs(name, lambda seen: 20 in depths(seen), timeout_s=60)
    assert sorted(depths(messages)) == list(range(1, 21))


def test_the_account_limit_throttles_functions_without_a_reservation(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    server = start_server(tmp_path_factory, "account-limit", args=("--concurrent-executions", "1"))
    try:
        lam = server.client()
        settings = lam.get_account_settings()["AccountLimit"]
        assert settings["ConcurrentExecutions"] == 1
        assert settings["UnreservedConcurrentExecutions"] == 1
        name = create_function(lam, unique("account"), {"app.py": SLOW_SOURCE})

        def call(_: int) -> str:
            try:
                invoke_json(lam, name, {"sleep": 0.6})
                return "ran"
            except ClientError as exc:
                return f"{exc.response['Error']['Code']}/{exc.response.get('Reason')}"

        with ThreadPoolExecutor(max_workers=3) as threads:
            outcomes = sorted(threads.map(call, range(3)))
        assert "ran" in outcomes
        assert "TooManyRequestsException/ConcurrentInvocationLimitExceeded" in outcomes
    finally:
        server.stop()
