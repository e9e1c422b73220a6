"""The core function flow with the real AWS CLI (`python -m awscli`)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from support.server import ROLE, LambdadServer, aws_env
from support.zips import handler_zip

pytestmark = pytest.mark.compat


class AwsCli:
    def __init__(self, endpoint: str, home: Path) -> None:
        self.endpoint = endpoint
        self.env = aws_env(endpoint=endpoint)
        self.env["AWS_CONFIG_FILE"] = str(home / "no-such-config")
        self.env["AWS_SHARED_CREDENTIALS_FILE"] = str(home / "no-such-credentials")
        self.env.pop("AWS_PROFILE", None)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "awscli", "lambda", *args]
        command += ["--endpoint-url", self.endpoint, "--region", "us-east-1", "--output", "json"]
        return subprocess.run(command, env=self.env, capture_output=True, text=True, timeout=60)

    def json(self, *args: str) -> Any:
        result = self.run(*args)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout) if result.stdout.strip() else None


@pytest.fixture
def aws(server: LambdadServer, tmp_path: Path) -> AwsCli:
    return AwsCli(server.url, tmp_path)


def test_function_lifecycle_with_the_aws_cli(aws: AwsCli, tmp_path: Path) -> None:
    name = f"cli-{uuid.uuid4().hex[:10]}"
    code = tmp_path / "code.zip"
    code.write_bytes(handler_zip("cli-1"))

    created = aws.json(
        "create-function",
        "--function-name", name,
        "--runtime", "python3.12",
        "--handler", "app.handler",
        "--role", ROLE,
        "--zip-file", f"fileb://{code}",
        "--tags", "team=cli",
    )  # fmt: skip
    assert created["FunctionName"] == name
    assert created["CodeSize"] == code.stat().st_size
    aws.json("wait", "function-active-v2", "--function-name", name)

    got = aws.json("get-function", "--function-name", name)
    assert got["Configuration"]["State"] == "Active"
    assert got["Tags"] == {"team": "cli"}
    assert got["Code"]["Location"].startswith(aws.endpoint)

    listed = aws.json("list-functions")
    assert name in [f["FunctionName"] for f in listed["Functions"]]

    configured = aws.json(
        "update-function-configuration",
        "--function-name", name,
        "--memory-size", "256",
        "--timeout", "10",
        "--environment", "Variables={STAGE=cli}",
    )  # fmt: skip
    assert (configured["MemorySize"], configured["Timeout"]) == (256, 10)
    assert configured["Environment"] == {"Variables": {"STAGE": "cli"}}
    aws.json("wait", "function-updated-v2", "--function-name", name)

    code.write_bytes(handler_zip("cli-2"))
    updated = aws.json(
        "update-function-code", "--function-name", name, "--zip-file", f"fileb://{code}"
    )
    assert updated["CodeSha256"] != created["CodeSha256"]
    assert updated["RevisionId"] != configured["RevisionId"]

    # Newer service models carry the 204 as StatusCode; older print nothing.
    assert aws.json("delete-function", "--function-name", name) in (None, {"StatusCode": 204})
    missing = aws.run("get-function", "--function-name", name)
    assert missing.returncode != 0
    assert "ResourceNotFoundException" in missing.stderr


def test_aws_cli_reports_a_missing_function(aws: AwsCli) -> None:
    result = aws.run("get-function", "--function-name", f"missing-{uuid.uuid4().hex[:8]}")
    assert result.returncode != 0
    assert "ResourceNotFoundException" in result.stderr
    assert "Function not found" in result.stderr


def test_layer_with_the_aws_cli(aws: AwsCli, tmp_path: Path) -> None:
    name = f"cli-layer-{uuid.uuid4().hex[:10]}"
    content = tmp_path / "layer.zip"
    content.write_bytes(handler_zip("layer"))
    published = aws.json(
        "publish-layer-version",
        "--layer-name", name,
        "--zip-file", f"fileb://{content}",
        "--compatible-runtimes", "python3.12", "python3.13",
        "--license-info", "MIT",
    )  # fmt: skip
    assert published["Version"] == 1
    assert published["Content"]["CodeSize"] == content.stat().st_size
    got = aws.json("get-layer-version-by-arn", "--arn", published["LayerVersionArn"])
    assert got["CompatibleRuntimes"] == ["python3.12", "python3.13"]
    assert got["LicenseInfo"] == "MIT"
