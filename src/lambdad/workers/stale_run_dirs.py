"""Run dirs whose primary died without removing them (kill -9), found and removed.

A primary's run dir (`supervisor.Cluster`) lives in the temp dir, where a short
path keeps its UNIX sockets under the kernel's 108-byte limit. A primary that is
killed cannot remove it, so each primary holds a lifetime lock on a file in its
own (`ALIVE`), and the next primary to start removes every run dir whose lock is
free: the kernel drops a flock with its last holder, however it ended, and a pid
could have been reused. The lock file appears under its name already locked (made
beside it, locked, then renamed), so a dir is never taken for dead while its
primary is still starting.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import stat
from pathlib import Path

log = logging.getLogger(__name__)

PREFIX = "lambdad-workers-"
ALIVE = "alive.lock"


def hold_alive_lock(run_dir: Path) -> int:
    """Lock `run_dir` as a live primary's for as long as the returned fd stays open."""
    making = run_dir / f".{ALIVE}"
    fd = os.open(making, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(making, run_dir / ALIVE)
    except OSError:
        os.close(fd)
        raise
    return fd


def _is_dead(run_dir: Path) -> bool:
    """True when `run_dir`'s lifetime lock exists and nobody holds it."""
    try:
        fd = os.open(run_dir / ALIVE, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return False  # no lock yet (a primary starting) or not a run dir of ours
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # its primary is alive
    finally:
        os.close(fd)
    return True


def sweep_stale_run_dirs(parent: Path) -> int:
    """Remove this user's run dirs under `parent` whose primary is gone; how many."""
    removed = 0
    for path in parent.glob(f"{PREFIX}*"):
        with contextlib.suppress(OSError):
            info = path.lstat()
            if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
                continue  # a symlink or someone else's: never followed, never removed
            if _is_dead(path):
                shutil.rmtree(path)
                removed += 1
    if removed:
        log.info("removed %d run dir(s) left by --workers primaries that were killed", removed)
    return removed
