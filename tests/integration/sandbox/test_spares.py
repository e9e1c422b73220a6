"""A spare slot whose parked launcher died is never handed out; a start under way
when the backend closes, or whose caller is cancelled, leaves nothing behind."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import anyio
import pytest

from lambdad.sandbox import BwrapBackend, Mount, SandboxError, SandboxSpec
from support.marks import needs_sandbox
from support.waiting import DEFAULT_TIMEOUT_S, wait_until, wait_until_async

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


def sleeper(tmp_path: Path, name: str) -> SandboxSpec:
    python = os.path.realpath(sys.executable)
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    return SandboxSpec(
        sandbox_id=name,
        argv=(python, "-S", "-c", "import time; time.sleep(600)"),
        env={},
        mounts=(Mount(Path(sys.base_prefix), sys.base_prefix), Mount(code, "/var/task")),
        memory_mb=128,
        ephemeral_storage_mb=16,
        work_dir=tmp_path / name,
    )


def sandbox_groups(backend: BwrapBackend) -> list[Path]:
    maker = backend._pool.maker
    assert maker.layout is not None
    return [
        group
        for root in maker.layout.roots.values()
        for group in (root / maker.cgroup_parent).glob("sbx-*")
    ]


async def test_a_start_under_way_as_the_backend_closes_leaves_no_cgroup(tmp_path: Path) -> None:
    """(A ready environment parked as the server stops: its start runs on in threads.)"""
    backend = BwrapBackend(state_dir=tmp_path / "state", spares=0, spare_tmp_mb=16)
    maker = backend._pool.maker
    assert maker.layout is not None
    outcome: list[object] = []

    async def start() -> None:
        try:
            outcome.append(await backend.start(sleeper(tmp_path, "late")))
        except SandboxError as exc:
            outcome.append(exc)

    async with anyio.create_task_group() as group:
        group.start_soon(start)
        await wait_until_async(lambda: sandbox_groups(backend), "the start under way")
        await backend.close()
    assert [type(o) for o in outcome] == [SandboxError]
    parents = [root / maker.cgroup_parent for root in maker.layout.roots.values()]
    assert [p for p in parents if p.exists()] == []


async def test_a_start_whose_caller_is_cancelled_leaves_nothing(tmp_path: Path) -> None:
    backend = BwrapBackend(state_dir=tmp_path / "state", spares=0, spare_tmp_mb=16)
    try:
        async with anyio.create_task_group() as group:
            group.start_soon(backend.start, sleeper(tmp_path, "cancelled"))
            await wait_until_async(lambda: sandbox_groups(backend), "the start under way")
            group.cancel_scope.cancel()
        await wait_until_async(lambda: not sandbox_groups(backend), "its cgroup gone", 20)
        assert not (tmp_path / "cancelled").exists()  # its work dir
    finally:
        await backend.close()
