"""A killed primary's run dir is removed by the next primary; a live one's never."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lambdad.workers.stale_run_dirs import ALIVE, PREFIX, hold_alive_lock, sweep_stale_run_dirs


def run_dir(parent: Path, name: str) -> Path:
    path = parent / f"{PREFIX}{name}"
    path.mkdir(mode=0o700)
    (path / "bus.sock").write_bytes(b"")
    return path


def test_a_killed_primarys_dir_goes_and_a_live_ones_stays(tmp_path: Path) -> None:
    live = run_dir(tmp_path, "live")
    fd = hold_alive_lock(live)
    killed = run_dir(tmp_path, "killed")
    # A primary in another process that is killed: its lock ends with it.
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path;"
            "from lambdad.workers.stale_run_dirs import hold_alive_lock;"
            "hold_alive_lock(Path(sys.argv[1])); print('held', flush=True); time.sleep(60)",
            str(killed),
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"held\n"
        assert sweep_stale_run_dirs(tmp_path) == 0  # both alive
        holder.kill()
        holder.wait()
        assert sweep_stale_run_dirs(tmp_path) == 1
        assert not killed.exists()
        assert (live / ALIVE).exists()
    finally:
        holder.kill()
        holder.wait()
        os.close(fd)
    assert sweep_stale_run_dirs(tmp_path) == 1  # its primary closed the lock: it is gone
    assert not live.exists()


def test_dirs_without_a_lock_links_and_others_are_left_alone(tmp_path: Path) -> None:
    starting = run_dir(tmp_path, "starting")  # made, its lock not yet in place
    (starting / f".{ALIVE}").write_bytes(b"")  # being made: not its name yet
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / ALIVE).write_bytes(b"")
    (tmp_path / f"{PREFIX}link").symlink_to(target)
    other = tmp_path / "other-dir"
    other.mkdir()
    (other / ALIVE).write_bytes(b"")
    assert sweep_stale_run_dirs(tmp_path) == 0
    assert starting.exists() and target.exists() and other.exists()
