"""Managed runtimes as AWS ships them: the bundled SDK, AWS's search path and variables,
AWS_LAMBDA_EXEC_WRAPPER, and tracebacks that show only sandbox paths.

The SDKs come from the shared test runtime cache (see support.runtime_cache): the
first test to need one downloads it, every later one (and every later run) reuses it.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import site
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from lambdad.pool.environment import ExecutionEnvironment
from lambdad.runtimes import BOOTSTRAP_DIR
from lambdad.runtimes.bundles import NODE_SDK, PYTHON_SDK
from lambdad.runtimes.interpreters import default_catalog
from support.envkit import make_spec, request
from support.runtime_cache import runtime_cache_dir, runtime_store

pytestmark = [pytest.mark.integration, pytest.mark.anyio]

RUNTIME = "python3.11"  # the server's own version: an interpreter every host has


@pytest.fixture
async def start_managed(tmp_path: Path, bwrap_backend: Any) -> AsyncIterator[Callable[..., Any]]:
    """start_managed(files, opt=None, **spec_kwargs): an environment with its runtime's SDK.

    Only bwrap: the subprocess double runs on host paths, and these tests check sandbox paths.
    """
    envs: list[ExecutionEnvironment] = []

    async def start(
        files: Mapping[str, str | bytes], opt: Path | None = None, **kw: Any
    ) -> ExecutionEnvironment:
        spec = make_spec(tmp_path, files, **kw)
        if opt is not None:
            spec = dataclasses.replace(spec, layer_dirs=(opt,))
        env = await ExecutionEnvironment.start(spec, bwrap_backend, runtimes=runtime_store())
        envs.append(env)
        return env

    yield start
    for env in envs:
        await env.destroy("test over")


SDK = """
import sys, boto3, botocore
def handler(event, context):
    return {"boto3": boto3.__version__, "botocore": botocore.__version__,
            "path": sys.path, "boto3_file": boto3.__file__}
"""


async def test_boto3_is_the_runtimes_pinned_version_not_the_hosts(
    start_managed: Any,
) -> None:
    env = await start_managed({"app.py": SDK}, runtime=RUNTIME)
    assert env.init_error is None, env.init_error
    out = json.loads((await env.invoke(request(), 30)).payload)
    assert out["boto3"] == out["botocore"] == PYTHON_SDK[RUNTIME]
    host_site = [*site.getsitepackages(), site.getusersitepackages()]
    assert not set(out["path"]) & set(host_site), out["path"]
    assert not [p for p in out["path"] if "dist-packages" in p or sys.prefix in p]
    # The cold start names what runs the runtime, AWS's INIT_START line.
    assert b"INIT_START Runtime Version: python:3.11\tInterpreter: /" in env.init_logs
    assert f"SDK: boto3 {PYTHON_SDK[RUNTIME]}".encode() in env.init_logs


async def test_sys_path_order_with_a_layer_and_task_shadowing(
    start_managed: Any,
    tmp_path: Path,
) -> None:
    opt = tmp_path / "opt"
    layer_site = opt / "python" / "lib" / "python3.11" / "site-packages"
    layer_site.mkdir(parents=True)
    (layer_site / "shadowed.py").write_text("WHERE = 'layer'\n")
    (layer_site / "onlylayer.py").write_text("WHERE = 'layer'\n")
    for p in (opt, *opt.rglob("*")):
        p.chmod(0o755 if p.is_dir() else 0o644)
    code = """
import sys, shadowed, onlylayer, botocore
def handler(event, context):
    return {"path": sys.path, "shadowed": shadowed.__file__, "onlylayer": onlylayer.__file__,
            "botocore": botocore.__file__}
"""
    files = {"app.py": code, "shadowed.py": "WHERE = 'task'\n"}
    env = await start_managed(files, opt=opt, runtime=RUNTIME)
    assert env.init_error is None, env.init_error
    out = json.loads((await env.invoke(request(), 30)).payload)
    lang_site = "/var/lang/lib/python3.11/site-packages"
    assert out["path"][:5] == [
        "/var/task",
        "/opt/python/lib/python3.11/site-packages",
        "/opt/python",
        lang_site,
        "/var/runtime",
    ]
    assert out["shadowed"] == "/var/task/shadowed.py"  # the function's code wins
    assert out["onlylayer"] == "/opt/python/lib/python3.11/site-packages/onlylayer.py"
    assert out["botocore"] == f"{lang_site}/botocore/__init__.py"


ENV_AND_WRAPPER = """
import os
def handler(event, context):
    keys = ("PYTHONPATH", "LAMBDA_RUNTIME_DIR", "LAMBDA_TASK_ROOT", "LD_LIBRARY_PATH", "PATH",
            "LANG", "TZ", "_HANDLER", "AWS_EXECUTION_ENV", "FROM_WRAPPER", "WRAPPED_ARGV")
    return {"env": {k: os.environ.get(k) for k in keys}, "cwd": os.getcwd(),
            "runtime_dir": sorted(os.listdir("/var/runtime"))}
"""
WRAPPER = """#!/bin/sh
export FROM_WRAPPER=yes
export WRAPPED_ARGV="$*"
exec "$@"
"""


async def test_environment_and_exec_wrapper(start_managed: Any) -> None:
    files = {"app.py": ENV_AND_WRAPPER, "wrap.sh": WRAPPER}
    wrapper = {"AWS_LAMBDA_EXEC_WRAPPER": "/var/task/wrap.sh"}
    env = await start_managed(files, runtime=RUNTIME, user_variables=wrapper)
    assert env.init_error is None, env.init_error
    out = json.loads((await env.invoke(request(), 30)).payload)
    seen = out["env"]
    assert seen["FROM_WRAPPER"] == "yes"
    # The wrapper gets the runtime's start command as its arguments, as on AWS.
    assert seen["WRAPPED_ARGV"].startswith("/var/lang/bin/python3.11 -u /var/runtime")
    assert seen["PYTHONPATH"] == "/var/runtime"
    assert seen["LAMBDA_RUNTIME_DIR"] == "/var/runtime"
    assert seen["LAMBDA_TASK_ROOT"] == "/var/task" and out["cwd"] == "/var/task"
    assert seen["LD_LIBRARY_PATH"] == (
        "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib"
        ":/var/task:/var/task/lib:/opt/lib"
    )
    assert seen["PATH"] == "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin"
    assert (seen["LANG"], seen["TZ"]) == ("en_US.UTF-8", ":UTC")
    assert seen["_HANDLER"] == "app.handler"
    assert seen["AWS_EXECUTION_ENV"] == f"AWS_Lambda_{RUNTIME}"
    assert "node_modules" in out["runtime_dir"]


RAISES = """
import json
def helper():
    json.loads("{not json")
def handler(event, context):
    helper()
"""


async def test_traceback_shows_only_sandbox_paths(start_managed: Any, tmp_path: Path) -> None:
    env = await start_managed({"app.py": RAISES}, runtime=RUNTIME)
    assert env.init_error is None, env.init_error
    out = await env.invoke(request(), 30)
    error = json.loads(out.payload)
    assert out.function_error == "Unhandled" and error["errorType"] == "JSONDecodeError"
    trace = "".join(error["stackTrace"])
    assert 'File "/var/task/app.py", line 6, in handler' in trace
    assert 'File "/var/task/app.py", line 4, in helper' in trace
    # Neither the code's, the bootstraps', the SDK's nor (for an install of its own, as
    # pyenv's) the interpreter's host dirs show: its stdlib is seen where AWS's is.
    host_dirs = [tmp_path, BOOTSTRAP_DIR, runtime_cache_dir(), Path.cwd()]
    interp = default_catalog().choose(RUNTIME).interpreter
    assert interp is not None
    if (interp.prefix / "lib" / "python3.11" / "site-packages").is_dir():
        host_dirs.append(interp.prefix)
        assert 'File "/var/lang/lib/python3.11/json/__init__.py"' in trace
    text = trace + out.logs.decode()
    assert not [p for p in host_dirs if str(p) in text], text


NODE_SDK_CODE = """
const s3 = require('@aws-sdk/client-s3');
const pkg = require('@aws-sdk/client-s3/package.json');
const { DynamoDBDocumentClient } = require('@aws-sdk/lib-dynamodb');
exports.handler = async () => ({
  version: pkg.version, client: typeof s3.S3Client, doc: typeof DynamoDBDocumentClient,
  resolved: require.resolve('@aws-sdk/client-s3'),
});
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
async def test_node_requires_the_bundled_sdk(start_managed: Any) -> None:
    env = await start_managed(
        {"index.js": NODE_SDK_CODE}, runtime="nodejs20.x", handler="index.handler"
    )
    assert env.init_error is None, env.init_error
    out = json.loads((await env.invoke(request(), 30)).payload)
    assert out["version"] == NODE_SDK["nodejs20.x"]
    assert out["client"] == out["doc"] == "function"
    assert out["resolved"].startswith("/var/runtime/node_modules/@aws-sdk/client-s3/")
