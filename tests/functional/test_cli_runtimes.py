"""`lambdad runtimes`: the table of runtime ids, their interpreters and bundles."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from lambdad.cli import main
from lambdad.cli_runtimes import runtime_rows
from lambdad.runtimes.interpreters import Interpreter, InterpreterCatalog

PY311 = Interpreter("python", (3, 11), Path("/usr/bin/python3.11"), Path("/usr"))
NODE20 = Interpreter("node", (20,), Path("/usr/bin/node"), Path("/usr"))


def test_rows_name_the_interpreter_and_the_fallback() -> None:
    rows = {row.runtime: row for row in runtime_rows(InterpreterCatalog((PY311,), (NODE20,)))}
    assert rows["python3.11"].interpreter == PY311 and rows["python3.11"].note == "exact"
    assert rows["python3.12"].interpreter == PY311
    assert rows["python3.12"].note == "fallback: python 3.11 (no python 3.12 here)"
    bundle = rows["python3.12"].bundle
    assert bundle is not None and bundle.language_version == "3.11"  # what really runs it
    assert rows["nodejs22.x"].note == "fallback: node 20 (no node 22 here)"
    assert rows["provided.al2023"].bundle is None
    none = runtime_rows(InterpreterCatalog((), ()))
    assert all(r.note.startswith(("cannot run", "custom")) for r in none)


def test_runtimes_command_prints_the_table(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["runtimes", "--cache", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split()[:3] == ["RUNTIME", "INTERPRETER", "VERSION"]
    row = next(line for line in lines if line.startswith("python3.11 "))
    assert "/python3.11" in row and "boto3 1.34.42, botocore 1.34.42" in row
    assert "on first use" in row  # an empty cache: nothing prepared yet
    assert any(line.startswith("provided.al2023 ") for line in lines)
    assert lines[-1] == f"runtime cache: {tmp_path}"


def test_prepare_refuses_a_runtime_without_a_bundle(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["runtimes", "prepare", "--cache", str(tmp_path), "java21"])
    assert result.exit_code == 2 and "no bundled SDK for java21" in result.output
