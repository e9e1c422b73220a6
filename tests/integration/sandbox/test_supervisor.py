"""The supervisor reclaims a dead server's leftovers, and only then lets its state dir go.

The server's death is simulated by closing the supervisor's pipe without the
clean-close line, which is what the kernel does when the server dies.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from lambdad.sandbox.base import SandboxError
from lambdad.sandbox.supervisor import ReclaimPlan, Supervisor, lock_state_dir

pytestmark = pytest.mark.integration


def wait_for_exit(pid: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and not _is_zombie(pid):
        assert time.monotonic() < deadline, f"supervisor {pid} did not exit"
        time.sleep(0.02)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, IndexError):
        return True


def make_leftovers(tmp_path: Path) -> tuple[ReclaimPlan, Path]:
    plan = ReclaimPlan(tmp_path / "state", None, "lambdad-test/none")
    work_dir = tmp_path / "environments" / "env-1"
    (work_dir / "runtime").mkdir(parents=True)
    return plan, work_dir


def die(supervisor: Supervisor, *, check_lock: Path | None = None) -> None:
    """What the kernel does when the server dies: its fds (the pipe, its lock) close."""
    assert supervisor._pipe is not None and supervisor._proc is not None
    os.close(supervisor._pipe)
    os.close(supervisor._lock_fd)
    supervisor._pipe = None
    if check_lock is not None:
        # The supervisor keeps the state dir until it has reclaimed everything.
        with pytest.raises(SandboxError, match="in use by another lambdad server"):
            lock_state_dir(check_lock, timeout=0.1)
    supervisor._proc.wait(timeout=15)


def test_server_death_removes_work_dirs_and_disks_then_frees_the_state_dir(
    tmp_path: Path,
) -> None:
    plan, work_dir = make_leftovers(tmp_path)
    supervisor = Supervisor.start(plan)
    supervisor.track(work_dir)
    (plan.state_dir / "disks" / "abc" / "mnt").mkdir(parents=True)

    die(supervisor, check_lock=plan.state_dir)

    assert not work_dir.exists()
    assert not (plan.state_dir / "disks").exists()
    os.close(lock_state_dir(plan.state_dir, timeout=0.1))  # the lock went with it


def test_clean_close_reclaims_nothing(tmp_path: Path) -> None:
    plan, work_dir = make_leftovers(tmp_path)
    supervisor = Supervisor.start(plan)
    supervisor.track(work_dir)
    supervisor.close()
    assert work_dir.exists()
    os.close(lock_state_dir(plan.state_dir, timeout=0.1))


def test_untracked_work_dirs_are_left_alone(tmp_path: Path) -> None:
    plan, work_dir = make_leftovers(tmp_path)
    supervisor = Supervisor.start(plan)
    supervisor.track(work_dir)
    supervisor.untrack(work_dir)
    die(supervisor)
    assert work_dir.exists()


def test_a_killed_supervisor_is_replaced_and_still_knows_the_work_dirs(tmp_path: Path) -> None:
    plan, work_dir = make_leftovers(tmp_path)
    supervisor = Supervisor.start(plan)
    supervisor.track(work_dir)
    first = supervisor.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    wait_for_exit(first)

    other = tmp_path / "environments" / "env-2"
    other.mkdir()
    supervisor.track(other)
    assert supervisor.pid not in (None, first)

    die(supervisor)
    assert not work_dir.exists()
    assert not other.exists()


def test_a_sandbox_without_cgroup_is_killed_by_process_group_even_stopped(
    tmp_path: Path,
) -> None:
    # The process backend without root: no cgroup, and an idle sandbox is SIGSTOPped.
    plan, work_dir = make_leftovers(tmp_path)
    sandbox = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        os.killpg(sandbox.pid, signal.SIGSTOP)
        supervisor = Supervisor.start(plan)
        supervisor.track(work_dir, sandbox.pid)
        die(supervisor)
        assert sandbox.wait(timeout=30) == -signal.SIGKILL
        assert not work_dir.exists()
    finally:
        sandbox.kill()
        sandbox.wait()
