"""The `lambdad` command against a live server: deploy, ls, rm, invoke, logs, help, errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from lambdad.cli import main
from support.server import LambdadServer, aws_env, boto3_client, free_port, lambdad_command

pytestmark = pytest.mark.compat


def lambdad(*args: str, endpoint: str | None = None) -> subprocess.CompletedProcess[str]:
    command = lambdad_command(*args)
    if endpoint is not None:
        command += ["--endpoint", endpoint]
    env = aws_env(endpoint=endpoint)
    env.pop("LAMBDAD_ENDPOINT", None)
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)


def write_app(folder: Path, body: str) -> None:
    (folder / "lib").mkdir(parents=True, exist_ok=True)
    (folder / "app.py").write_text(f"def handler(event, context):\n    return {body!r}\n")
    (folder / "lib" / "helper.py").write_text("VALUE = 1\n")
    script = folder / "run.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o755)


def test_deploy_ls_rm(server: LambdadServer, lambda_client: Any, tmp_path: Path) -> None:
    name = f"deployed-{uuid.uuid4().hex[:10]}"
    folder = tmp_path / "app"
    write_app(folder, "one")

    created = lambdad(
        "deploy", str(folder), "--name", name, "--runtime", "python3.12",
        "--handler", "app.handler", "--env", "STAGE=dev", endpoint=server.url,
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith("created arn:aws:lambda:us-east-1:000000000000:function:")
    config = lambda_client.get_function_configuration(FunctionName=name)
    assert config["Handler"] == "app.handler"
    assert config["Environment"] == {"Variables": {"STAGE": "dev"}}
    first_sha = config["CodeSha256"]

    write_app(folder, "two")
    update = (
        "deploy", str(folder), "--name", name, "--runtime", "python3.11",
        "--handler", "app.handler", "--memory", "256", "--timeout", "20",
    )  # fmt: skip
    updated = lambdad(*update, endpoint=server.url)
    assert updated.returncode == 0, updated.stderr
    assert updated.stdout.startswith("updated ")
    config = lambda_client.get_function_configuration(FunctionName=name)
    assert config["CodeSha256"] != first_sha
    assert (config["Runtime"], config["MemorySize"], config["Timeout"]) == ("python3.11", 256, 20)
    log = server.full_log()
    assert f"function {name}: configuration updated (memory_size, runtime, timeout)" in log

    again = lambdad(*update, endpoint=server.url)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("redeployed unchanged ")
    log = server.full_log()
    assert f"function {name}: code redeployed unchanged" in log
    assert f"function {name}: configuration redeployed unchanged" in log

    listed = lambdad("ls", endpoint=server.url)
    assert listed.returncode == 0, listed.stderr
    line = next(ln for ln in listed.stdout.splitlines() if ln.startswith(name))
    assert "python3.11" in line and "256" in line
    as_json = lambdad("ls", "--json", endpoint=server.url)
    assert name in [f["FunctionName"] for f in json.loads(as_json.stdout)]

    removed = lambdad("rm", name, endpoint=server.url)
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.strip() == f"deleted {name}"
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function(FunctionName=name)


def test_deployed_zip_keeps_paths_and_exec_bits(
    server: LambdadServer, lambda_client: Any, tmp_path: Path
) -> None:
    import io
    import zipfile

    import httpx

    name = f"zipped-{uuid.uuid4().hex[:10]}"
    folder = tmp_path / "app"
    write_app(folder, "x")
    result = lambdad(
        "deploy", str(folder), "--name", name, "--runtime", "python3.12",
        "--handler", "app.handler", endpoint=server.url,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    location = lambda_client.get_function(FunctionName=name)["Code"]["Location"]
    archive = zipfile.ZipFile(io.BytesIO(httpx.get(location).content))
    assert sorted(archive.namelist()) == ["app.py", "lib/helper.py", "run.sh"]
    assert (archive.getinfo("run.sh").external_attr >> 16) & 0o111


def test_rm_of_a_missing_function_is_a_readable_error(server: LambdadServer) -> None:
    result = lambdad("rm", f"missing-{uuid.uuid4().hex[:8]}", endpoint=server.url)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ResourceNotFoundException: Function not found")
    assert "Traceback" not in result.stderr


def test_unreachable_server_is_a_readable_error() -> None:
    result = lambdad("ls", endpoint=f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert "cannot reach the lambdad server" in result.stderr
    assert "Traceback" not in result.stderr


def test_deploy_refused_by_the_server_is_a_readable_error(
    server: LambdadServer, tmp_path: Path
) -> None:
    folder = tmp_path / "app"
    write_app(folder, "x")
    result = lambdad(
        "deploy", str(folder), "--name", "bad-memory", "--runtime", "python3.12",
        "--handler", "app.handler", "--memory", "64", endpoint=server.url,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("error: ValidationException: ")
    assert "Traceback" not in result.stderr


def test_help_of_the_command() -> None:
    result = subprocess.run(lambdad_command("--help"), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for command in main.commands:
        assert command in result.stdout


@pytest.mark.parametrize("command", sorted(main.commands))
def test_help_of_each_subcommand(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("bwrap") is None,
    reason="invoking runs a sandbox: needs root and bubblewrap",
)
def test_invoke_and_logs(server: LambdadServer, tmp_path: Path) -> None:
    name = f"invoked-{uuid.uuid4().hex[:10]}"
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "app.py").write_text(
        "def handler(event, context):\n"
        "    print('seen', event['n'])\n"
        "    if event['n'] < 0:\n"
        "        raise ValueError('negative')\n"
        "    return {'double': event['n'] * 2}\n"
    )
    deployed = lambdad(
        "deploy", str(folder), "--name", name, "--runtime", "python3.12",
        "--handler", "app.handler", endpoint=server.url,
    )  # fmt: skip
    assert deployed.returncode == 0, deployed.stderr

    ok = lambdad("invoke", name, "--payload", '{"n": 21}', endpoint=server.url)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout) == {"double": 42}
    assert "START RequestId:" in ok.stderr and "seen 21" in ok.stderr  # the log tail

    failed = lambdad("invoke", name, "--payload", '{"n": -1}', endpoint=server.url)
    assert failed.returncode == 2
    assert json.loads(failed.stdout)["errorType"] == "ValueError"

    queued = lambdad("invoke", name, "--async", "--payload", '{"n": 5}', endpoint=server.url)
    assert queued.returncode == 0 and queued.stdout.startswith("queued")

    for _ in range(100):
        logs = lambdad("logs", name, endpoint=server.url)
        if "seen 5" in logs.stdout:
            break
        time.sleep(0.1)
    assert logs.returncode == 0, logs.stderr
    assert "seen 21" in logs.stdout and "seen 5" in logs.stdout
    assert "REPORT RequestId:" in logs.stdout

    bad = lambdad("invoke", name, "--payload", "not json", endpoint=server.url)
    assert bad.returncode == 1 and "InvalidRequestContentException" in bad.stderr


def test_the_region_comes_from_the_option_then_aws_region_then_aws_default_region(
    server: LambdadServer, tmp_path: Path
) -> None:
    folder = tmp_path / "app"
    write_app(folder, "one")
    names = {region: f"regional-{uuid.uuid4().hex[:8]}" for region in ("eu-west-1", "ap-south-1")}
    env = aws_env(endpoint=server.url)
    env.pop("LAMBDAD_ENDPOINT", None)
    env.pop("AWS_REGION", None)

    def run(*args: str, **variables: str) -> subprocess.CompletedProcess[str]:
        command = [*lambdad_command(*args), "--endpoint", server.url]
        return subprocess.run(
            command, capture_output=True, text=True, env={**env, **variables}, timeout=60
        )

    deploy = ("deploy", str(folder), "--runtime", "python3.12", "--handler", "app.handler")
    by_option = run("--region", "eu-west-1", *deploy, "--name", names["eu-west-1"],
                    AWS_REGION="ap-south-1")  # fmt: skip
    assert by_option.returncode == 0, by_option.stderr
    assert f"arn:aws:lambda:eu-west-1:000000000000:function:{names['eu-west-1']}" in (
        by_option.stdout
    )
    by_env = run(*deploy, "--name", names["ap-south-1"], AWS_REGION="ap-south-1")
    assert by_env.returncode == 0, by_env.stderr
    assert "arn:aws:lambda:ap-south-1:" in by_env.stdout
    for region, name in names.items():
        client = boto3_client(server.url, region=region)
        assert client.get_function_configuration(FunctionName=name)["FunctionName"] == name
        listed = run("ls", "--json", AWS_DEFAULT_REGION=region)  # no AWS_REGION: the default
        assert listed.returncode == 0, listed.stderr
        assert name in listed.stdout and all(
            other not in listed.stdout for other in names.values() if other != name
        )
        assert name not in run("ls", "--json").stdout  # us-east-1 (aws_env's default)
        removed = run("--region", region, "rm", name)
        assert removed.returncode == 0, removed.stderr
    bad = run("--region", "eu-west", "ls")
    assert bad.returncode == 2 and "doesn't match a supported format" in bad.stderr
