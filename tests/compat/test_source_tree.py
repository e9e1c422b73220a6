"""A running server writes nothing into the checkout: its state, the code it
unpacks and the bootstraps' bytecode all go under its data dir (a second
`scripts/start.sh` then finds nothing new to install)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from lambdad.runtimes import BOOTSTRAP_DIR
from support.invoke import create_function
from support.marks import needs_sandbox
from support.server import LambdadServer, boto3_client

pytestmark = [pytest.mark.compat, *needs_sandbox]

CHECKOUT = Path(__file__).resolve().parents[2]
TOOL_DIRS = {".git", ".venv", ".pytest_cache", ".mypy_cache", ".ruff_cache"}


def written_since(root: Path, since: float) -> list[Path]:
    """Files under `root` changed since `since`, but for tools' own caches and
    the interpreter's __pycache__ of lambdad's modules (never the bootstraps')."""
    found = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        keep_pycache = here.is_relative_to(BOOTSTRAP_DIR)
        dirs[:] = [
            d
            for d in dirs
            if d not in TOOL_DIRS
            and not d.endswith(".egg-info")
            and (d != "__pycache__" or keep_pycache)
        ]
        found += [here / f for f in files if os.lstat(here / f).st_mtime >= since]
    return found


def test_a_server_writes_nothing_into_the_checkout(tmp_path: Path) -> None:
    started = time.time() - 1  # coarse file system timestamps
    data_dir = tmp_path / "data"
    with LambdadServer(data_dir) as server:
        client = boto3_client(server.url)
        create_function(client, "tree", {"app.py": "def handler(e, c):\n    return e\n"})
        answer = client.invoke(FunctionName="tree", Payload=b'{"n": 1}')
        assert answer["Payload"].read() == b'{"n": 1}'
    assert written_since(CHECKOUT, started) == []
    # init always runs on the server's own Python; the runtime's bootstrap when it matches.
    assert "init" in {p.name.split(".")[0] for p in (data_dir / "bytecode").glob("*.pyc")}
