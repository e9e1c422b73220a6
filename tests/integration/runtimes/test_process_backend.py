"""A python function end to end on the real "process" backend (no namespaces).

As root that backend runs the function as the sandbox uid on the host's own
files, so the interpreters must be ones any user may run (see
`InterpreterCatalog.for_other_users`).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lambdad.pool.environment import ExecutionEnvironment
from lambdad.runtimes.interpreters import default_catalog
from support.envkit import make_spec, request

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

HELLO = """
import logging
def handler(event, context):
    print("hello", event["name"])
    logging.getLogger().warning("warned")
    return {"hello": event["name"], "id": context.aws_request_id}
"""


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A dir the sandbox's uid can read (pytest's tmp_path is mode 700 under root)."""
    path = Path(tempfile.mkdtemp(prefix="lambdad-process-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def test_python_hello_on_process_backend(open_dir: Path) -> None:
    from lambdad.sandbox import select_backend

    if os.geteuid() == 0 and default_catalog().for_other_users().init_python is None:
        pytest.skip("no Python 3.9+ here that the sandbox uid can run (e.g. /usr/bin/python3)")
    backend: Any = select_backend("process")  # it runs wherever Python does: never a skip
    try:
        env = await ExecutionEnvironment.start(make_spec(open_dir, {"app.py": HELLO}), backend)
        try:
            assert env.init_error is None, (env.init_error, env.init_logs)
            req = request({"name": "w"})
            out = await env.invoke(req, 30)
            assert out.function_error is None, out.payload
            assert json.loads(out.payload) == {"hello": "w", "id": req.request_id}
            assert b"hello w\n" in out.logs
            assert b"[WARNING]\t" in out.logs and b"\twarned" in out.logs
        finally:
            await env.destroy("test over")
    finally:
        await backend.close()


async def test_layers_on_process_backend(open_dir: Path) -> None:
    """The process backend sees the layers' host dir, not /opt: the paths follow it."""
    from lambdad.sandbox import select_backend

    if os.geteuid() == 0 and default_catalog().for_other_users().init_python is None:
        pytest.skip("no Python 3.9+ here that the sandbox uid can run (e.g. /usr/bin/python3)")
    layer = open_dir / "layer"
    site = layer / "python" / "lib" / "python3.11" / "site-packages"
    site.mkdir(parents=True)
    (site / "from_layer.py").write_text("VALUE = 'layer'\n")
    for path in (layer, *layer.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)
    source = "import from_layer\ndef handler(event, context):\n    return from_layer.VALUE\n"
    spec = replace(make_spec(open_dir, {"app.py": source}), layer_dirs=(layer,))
    backend: Any = select_backend("process")
    try:
        env = await ExecutionEnvironment.start(spec, backend)
        try:
            assert env.init_error is None, (env.init_error, env.init_logs)
            out = await env.invoke(request({}), 5)
            assert json.loads(out.payload) == "layer", out.payload
        finally:
            await env.destroy("test over")
    finally:
        await backend.close()


async def test_two_environments_at_once_on_process_backend(open_dir: Path) -> None:
    """No network namespace here: each environment's Runtime API gets a port of its own."""
    from lambdad.sandbox import select_backend

    if os.geteuid() == 0 and default_catalog().for_other_users().init_python is None:
        pytest.skip("no Python 3.9+ here that the sandbox uid can run (e.g. /usr/bin/python3)")
    backend: Any = select_backend("process")
    started: list[ExecutionEnvironment] = []
    try:
        for _ in range(2):
            spec = make_spec(open_dir, {"app.py": HELLO})
            started.append(await ExecutionEnvironment.start(spec, backend))
        for name, env in zip(("one", "two"), started, strict=True):
            assert env.init_error is None, (env.init_error, env.init_logs)
            out = await env.invoke(request({"name": name}), 5)
            assert json.loads(out.payload)["hello"] == name, out.payload
    finally:
        for env in started:
            await env.destroy("test over")
        await backend.close()
