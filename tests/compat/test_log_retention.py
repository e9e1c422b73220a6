"""The retention of a function's log group over lambdad's own endpoint."""

from __future__ import annotations

import subprocess
import uuid
from typing import Any

import httpx

from support.server import ROLE, LambdadServer, aws_env, http_auth, lambdad_command
from support.zips import handler_zip


def test_retention_defaults_to_never_and_takes_cloudwatch_values(
    server: LambdadServer, lambda_client: Any
) -> None:
    name = f"ret-{uuid.uuid4().hex[:8]}"
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": handler_zip()},
    )
    url = f"{server.url}/_lambdad/functions/{name}/logs/retention"
    client = httpx.Client(auth=http_auth(server.url))
    group = f"/aws/lambda/{name}"
    assert client.get(url).json() == {"logGroupName": group, "retentionInDays": None}

    answer = client.put(url, json={"retentionInDays": 14})
    assert answer.status_code == 200
    assert answer.json() == {"logGroupName": group, "retentionInDays": 14}
    assert client.get(url).json()["retentionInDays"] == 14

    refused = client.put(url, json={"retentionInDays": 2})
    assert refused.status_code == 400
    assert refused.headers["x-amzn-ErrorType"].startswith("InvalidParameterValueException")
    assert "Member must satisfy enum value set: [1, 3, 5, 7, 14," in refused.json()["message"]
    assert client.put(url, json={"retentionInDays": "a week"}).status_code == 400
    assert client.get(url).json()["retentionInDays"] == 14  # the bad ones changed nothing

    assert client.delete(url).status_code == 204
    assert client.get(url).json()["retentionInDays"] is None
    missing = client.get(f"{server.url}/_lambdad/functions/nope-{name}/logs/retention")
    assert missing.status_code == 404


def test_the_cli_sets_and_removes_retention(server: LambdadServer, lambda_client: Any) -> None:
    name = f"ret-cli-{uuid.uuid4().hex[:8]}"
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": handler_zip()},
    )

    def lambdad(*args: str) -> subprocess.CompletedProcess[str]:
        command = lambdad_command("logs", name, "--endpoint", server.url, *args)
        env = aws_env(endpoint=server.url)
        return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)

    kept = lambdad("--retention", "30")
    assert kept.returncode == 0, kept.stderr
    assert kept.stdout.strip() == f"/aws/lambda/{name}: events kept 30 days"
    refused = lambdad("--retention", "31")
    assert refused.returncode == 1 and "InvalidParameterValueException" in refused.stderr
    assert lambdad("--retention", "a month").returncode == 1
    never = lambdad("--retention", "never")
    assert never.stdout.strip() == f"/aws/lambda/{name}: events never expire"
    url = f"{server.url}/_lambdad/functions/{name}/logs/retention"
    client = httpx.Client(auth=http_auth(server.url))
    assert client.get(url).json()["retentionInDays"] is None
