"""`lambdad schedule add / list / remove` against a live server, with clear errors."""

from __future__ import annotations

import subprocess
import uuid
from typing import Any

import pytest

from support.lambda_calls import new_function
from support.server import LambdadServer, boto3_client, lambdad_command, run_lambdad

pytestmark = pytest.mark.compat


def lambdad(*args: str, endpoint: str) -> subprocess.CompletedProcess[str]:
    return run_lambdad(*args, endpoint=endpoint)


def test_add_list_remove(server: LambdadServer, lambda_client: Any) -> None:
    function = new_function(lambda_client, "scheduled")
    name = f"every-5-{uuid.uuid4().hex[:8]}"
    added = lambdad(
        "schedule", "add", name, "rate(5 minutes)", "--function", function,
        "--input", '{"job": 1}', "--timezone", "Europe/Paris", endpoint=server.url,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert f"schedule/default/{name}" in added.stdout
    got = boto3_client(server.url, service="scheduler").get_schedule(Name=name)
    assert got["ScheduleExpression"] == "rate(5 minutes)"
    assert got["ScheduleExpressionTimezone"] == "Europe/Paris"
    assert got["Target"]["Arn"].endswith(f":function:{function}")
    assert got["Target"]["Input"] == '{"job": 1}'

    listed = lambdad("schedule", "list", endpoint=server.url)
    assert listed.returncode == 0, listed.stderr
    line = next(line for line in listed.stdout.splitlines() if line.startswith(name))
    assert "rate(5 minutes)" in line and "ENABLED" in line and function in line

    removed = lambdad("schedule", "remove", name, endpoint=server.url)
    assert removed.returncode == 0, removed.stderr
    assert name not in lambdad("schedule", "list", endpoint=server.url).stdout


def test_errors_are_clear(server: LambdadServer, lambda_client: Any) -> None:
    function = new_function(lambda_client, "scheduled")
    bad = lambdad(
        "schedule", "add", "bad", "rate(5 minute)", "--function", function, endpoint=server.url
    )
    assert bad.returncode == 1
    assert "ValidationException: Invalid Schedule Expression rate(5 minute)." in bad.stderr
    missing = lambdad(
        "schedule", "add", "x", "rate(5 minutes)", "--function", "no-such-fn", endpoint=server.url
    )
    assert missing.returncode == 1
    assert "ResourceNotFoundException" in missing.stderr
    not_json = lambdad(
        "schedule", "add", "x", "rate(5 minutes)", "--function", function, "--input", "{nope",
        endpoint=server.url,
    )  # fmt: skip
    assert not_json.returncode == 1 and "--input is not JSON" in not_json.stderr
    gone = lambdad("schedule", "remove", "never-made", endpoint=server.url)
    assert gone.returncode == 1
    assert "ResourceNotFoundException: Schedule never-made does not exist." in gone.stderr


def test_help() -> None:
    result = subprocess.run(
        lambdad_command("schedule", "add", "--help"), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert "rate(5 minutes)" in result.stdout and "--function" in result.stdout
