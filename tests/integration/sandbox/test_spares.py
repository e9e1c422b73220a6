"""A spare slot whose parked launcher died is never handed out."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from lambdad.sandbox import BwrapBackend, Mount, SandboxSpec
from support.marks import needs_sandbox
from support.waiting import DEFAULT_TIMEOUT_S, wait_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.anyio,
    *needs_sandbox,
]


async def test_dead_spare_is_replaced(tmp_path: Path) -> None:
    backend = BwrapBackend(state_dir=tmp_path / "state", spares=1, spare_tmp_mb=16)
    try:
        pool = backend._pool
        spare = wait_until(lambda: pool._ready[0] if pool._ready else None, "a spare")
        os.kill(spare.launcher.pid, signal.SIGKILL)
        spare.launcher.proc.wait(timeout=DEFAULT_TIMEOUT_S)

        python = os.path.realpath(sys.executable)
        code = tmp_path / "code"
        code.mkdir()
        spec = SandboxSpec(
            sandbox_id="after-dead-spare",
            argv=(python, "-S", "-c", "raise SystemExit(7)"),
            env={},
            mounts=(
                Mount(Path(sys.base_prefix), sys.base_prefix),
                Mount(code, "/var/task"),
            ),
            memory_mb=128,
            ephemeral_storage_mb=16,
            work_dir=tmp_path / "work",
        )
        sandbox = await backend.start(spec)
        status = await sandbox.wait()
        await sandbox.destroy("done")
        assert status.returncode == 7
    finally:
        await backend.close()
