"""The README's boto3 and AWS CLI examples work as written (on a free port, not 9000)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from support.marks import needs_sandbox
from support.server import LambdadServer, aws_env, http_auth
from support.waiting import wait_until

pytestmark = [pytest.mark.compat, *needs_sandbox]

CHECKOUT = Path(__file__).resolve().parents[2]
README = CHECKOUT / "README.md"


def block(heading: str, language: str) -> str:
    section = README.read_text().split(f"## {heading}\n", 1)[1]
    found = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert found, f"no {language} block under {heading!r}"
    return found.group(1)


@pytest.fixture(scope="module")
def fresh_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LambdadServer]:
    with LambdadServer(tmp_path_factory.mktemp("readme") / "data") as server:
        yield server


def test_boto3_example(fresh_server: LambdadServer, tmp_path: Path) -> None:
    script = block("Use it with boto3", "python").replace("127.0.0.1:9000", fresh_server.url[7:])
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True,
        env=aws_env(endpoint=fresh_server.url),
        cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["{'hello': 'boto3'}", "Active"]


def untracked_files() -> set[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard"], cwd=CHECKOUT, check=True,
        capture_output=True, text=True,
    )  # fmt: skip
    return set(listed.stdout.splitlines())


def test_aws_cli_example(fresh_server: LambdadServer) -> None:
    # As pasted into a fresh shell in the checkout: no aws on PATH, no credentials.
    assert Path(sys.executable).parent == CHECKOUT / ".venv" / "bin", "run from the checkout"
    script = block("Use it with the AWS CLI", "sh").replace("127.0.0.1:9000", fresh_server.url[7:])
    # The server's admin key, where `$PWD/.lambdad` would hold it for a server run from here.
    credentials = fresh_server.data_dir / "credentials"
    assert '"$PWD/.lambdad/credentials"' in script
    script = script.replace('"$PWD/.lambdad/credentials"', f'"{credentials}"')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAMBDAD_"))}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if not Path(p, "aws").exists()
    )
    before = untracked_files()
    run = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, env=env,
        cwd=CHECKOUT, timeout=180,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert '{"echo": {"hi": 1}}' in run.stdout
    assert untracked_files() == before, "the example left files in the checkout"


def test_event_bus_example(fresh_server: LambdadServer, tmp_path: Path) -> None:
    # Its functions come from the boto3 example (the same greeter, made here if not yet).
    for heading in ("Use it with boto3", "Event bus (EventBridge)"):
        script = block(heading, "python").replace("127.0.0.1:9000", fresh_server.url[7:])
        if heading.startswith("Use") and "greeter" in _function_names(fresh_server):
            continue
        run = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True,
            env=aws_env(endpoint=fresh_server.url), cwd=tmp_path, timeout=60,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["0"]

    def reports() -> int | None:
        answer = httpx.get(
            f"{fresh_server.url}/_lambdad/functions/greeter/logs",
            timeout=10,
            auth=http_auth(fresh_server.url),
        )
        count = sum(e["message"].startswith("REPORT") for e in answer.json()["events"])
        return count if count >= 3 else None  # the boto3 example's invoke, then two events

    wait_until(reports, "greeter invoked by both targets")


def test_logs_example(fresh_server: LambdadServer, tmp_path: Path) -> None:
    if "greeter" not in _function_names(fresh_server):
        test_boto3_example(fresh_server, tmp_path)
    script = block("Logs", "python").replace("127.0.0.1:9000", fresh_server.url[7:])
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True,
        env=aws_env(endpoint=fresh_server.url), cwd=tmp_path, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[-1] == "True"
    assert any(" START RequestId: " in line for line in lines)


def _function_names(server: LambdadServer) -> list[str]:
    answer = httpx.get(f"{server.url}/2015-03-31/functions", timeout=10, auth=http_auth(server.url))
    return [f["FunctionName"] for f in answer.json()["Functions"]]
