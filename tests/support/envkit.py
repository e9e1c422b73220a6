"""Helpers for runtime integration tests: a subprocess double of the sandbox, specs, requests."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import anyio
import anyio.to_thread

from lambdad.runtimes import EnvironmentSpec, InvokeRequest, lambda_environment
from lambdad.sandbox.base import ExitStatus, SandboxSpec


class SubprocessSandbox:
    """A test double: the spec's argv as a plain process group (no isolation, no remapping)."""

    backend_name = "process"

    def __init__(self, spec: SandboxSpec, proc: subprocess.Popen[bytes]) -> None:
        self.spec = spec
        self.proc = proc

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def wait(self) -> ExitStatus:
        await anyio.to_thread.run_sync(self.proc.wait)
        status = self.exit_status()
        assert status is not None
        return status

    def exit_status(self) -> ExitStatus | None:
        rc = self.proc.poll()
        if rc is None:
            return None
        return ExitStatus(rc if rc >= 0 else None, -rc if rc < 0 else None)

    def memory_peak_mb(self) -> int:
        return 0

    def reset_memory_peak(self) -> None:
        pass

    async def end_init(self) -> None:
        pass

    def oom_killed(self) -> bool:
        return False

    def cpu_throttles(self) -> int:
        return 0

    async def freeze(self) -> None:
        os.killpg(self.proc.pid, signal.SIGSTOP)

    async def thaw(self) -> None:
        os.killpg(self.proc.pid, signal.SIGCONT)

    async def destroy(self, reason: str) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        await anyio.to_thread.run_sync(self.proc.wait)
        shutil.rmtree(self.spec.work_dir, ignore_errors=True)


class FakeSandbox(SubprocessSandbox):
    """A sandbox with no process: always running until destroyed."""

    def __init__(self) -> None:
        super().__init__(cast(SandboxSpec, None), cast("subprocess.Popen[bytes]", None))
        self.destroyed: str | None = None

    def exit_status(self) -> ExitStatus | None:
        return None

    async def freeze(self) -> None:
        pass

    async def thaw(self) -> None:
        pass

    async def destroy(self, reason: str) -> None:
        self.destroyed = reason

    async def wait(self) -> ExitStatus:
        return ExitStatus(returncode=None, signal=9)  # as if init had been killed


class SubprocessBackend:
    name = "process"

    async def start(self, spec: SandboxSpec) -> SubprocessSandbox:
        spec.work_dir.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen(
            list(spec.argv),
            env=dict(spec.env),
            pass_fds=spec.pass_fds,
            cwd=spec.cwd,
            start_new_session=True,
        )
        return SubprocessSandbox(spec, proc)

    async def close(self) -> None:
        pass


_ids = itertools.count()


def make_spec(
    tmp_path: Path,
    files: Mapping[str, str | bytes],
    *,
    runtime: str = "python3.11",
    handler: str = "app.handler",
    memory_mb: int = 256,
    network: str = "none",
    strict_runtime: bool = False,
    user_variables: Mapping[str, str] | None = None,
) -> EnvironmentSpec:
    n = next(_ids)
    code = tmp_path / f"code{n}"
    code.mkdir()
    for name, content in files.items():
        path = code / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        if name == "bootstrap" or name.endswith(".sh"):
            path.chmod(0o755)
    code.chmod(0o755)
    for p in code.rglob("*"):
        p.chmod(p.stat().st_mode | 0o044 | (0o011 if p.is_dir() else 0))
    env = lambda_environment(
        function_name="fn",
        function_version="$LATEST",
        memory_mb=memory_mb,
        region="us-east-1",
        log_group_name="/aws/lambda/fn",
        log_stream_name="2024/01/01/[$LATEST]abc",
        runtime=runtime,
        handler=handler,
        credentials={"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "secret"},
        user_variables=user_variables,
    )
    return EnvironmentSpec(
        env_id=f"e{n}-{uuid.uuid4().hex[:6]}",
        function_name="fn",
        function_version="$LATEST",
        runtime=runtime,
        handler=handler,
        code_dir=code,
        layer_dirs=(),
        memory_mb=memory_mb,
        ephemeral_storage_mb=512,
        environment=env,
        network=network,  # type: ignore[arg-type]
        work_dir=tmp_path / f"work{n}",
        strict_runtime=strict_runtime,
    )


def request(payload: Any = None, *, raw: bytes | None = None, **kw: Any) -> InvokeRequest:
    body = raw if raw is not None else json.dumps({} if payload is None else payload).encode()
    fields: dict[str, Any] = {
        "request_id": str(uuid.uuid4()),
        "payload": body,
        "deadline_ms": int(time.time() * 1000) + 30_000,
        "invoked_function_arn": "arn:aws:lambda:us-east-1:000000000000:function:fn",
        "trace_id": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0",
        "client_context": None,
        "cognito_identity": None,
    }
    fields.update(kw)
    return InvokeRequest(**fields)
