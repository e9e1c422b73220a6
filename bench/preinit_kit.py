"""On-demand templates (`lambdad.pool.preinit`) for the benches, without a server: a
python function's version, and a template set whose templates start as a server's do
(`EnvironmentLauncher.start_preinit_template`: the version's sandbox, no credentials, no
output, its runtime forking before Init)."""

from __future__ import annotations

import socket
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from lambdad.catalog import FunctionConfig, FunctionState, LastUpdateStatus, Version
from lambdad.pool.environment import ExecutionEnvironment
from lambdad.pool.preinit import PreInitTemplates
from lambdad.pool.templates import Spawn
from lambdad.runtimes.launch import PRE_INIT_VARIABLE
from lambdad.runtimes.prepare import RuntimeStore

sys.path.insert(0, str(Path(__file__).parent))
from runtime_cold_start import HELLO, make_spec


def version_of(runtime: str = "python3.11") -> Version:
    return Version(
        function_name="hello",
        version="$LATEST",
        function_arn="arn:aws:lambda:us-east-1:000000000000:function:hello",
        config=FunctionConfig(runtime=runtime, handler="app.handler", role="r"),
        code_sha256="x",
        code_key="k",
        code_size=1,
        revision_id="r1",
        last_modified=0.0,
        state=FunctionState.ACTIVE,
        last_update_status=LastUpdateStatus.SUCCESSFUL,
    )


def template_set(
    backend: Any,
    root: Path,
    memory_mb: int,
    *,
    source: str = HELLO,
    runtimes: RuntimeStore | None = None,
    spawn: Spawn | None = None,
    max_memory_mb: int = 1 << 20,
    bytecode_dir: Path | None = None,
) -> PreInitTemplates:
    """Templates of `make_spec(root, ...)`'s function on `backend`."""

    async def start(version: Version, fork_end: socket.socket) -> ExecutionEnvironment:
        spec = make_spec(root, 999_999, memory_mb, source)
        variables = {**spec.environment, PRE_INIT_VARIABLE: "1"}
        spec = replace(spec, env_id="template", environment=variables, bytecode_dir=bytecode_dir)
        return await ExecutionEnvironment.start(spec, backend, runtimes=runtimes, template=fork_end)

    return PreInitTemplates(backend, start, spawn=spawn, max_memory_mb=max_memory_mb)
