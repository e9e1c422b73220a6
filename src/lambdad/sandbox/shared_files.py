"""Where the server keeps the files its sandboxes read: unpacked code, /opt trees and
environments' work dirs.

bwrap mounts them, so they may live anywhere (root reaches any path). The
"process" backend cannot mount: the function reads them by their host path, and
as root it runs as the sandbox's own uid, which must be able to walk every dir
above them. A data dir under a private dir (a home that is mode 700, pytest's
tmp dirs) is out of that uid's reach and every function fails at Init with
"No module named 'app'". Then the files go to a fresh dir under the system temp
dir instead that any user may traverse but not list; they are caches and per-run
dirs, rebuilt from the data dir's blobs, so nothing is lost when it is removed.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)


def reachable_by_others(path: Path) -> bool:
    """Whether a user that is neither owner nor group member can walk down to `path`
    (search permission on it and every dir above it)."""
    path = path.resolve()
    for dir_ in (path, *path.parents):
        try:
            mode = dir_.stat().st_mode
        except OSError:
            return False
        if not mode & stat.S_IXOTH:
            return False
    return True


@dataclass(frozen=True)
class SharedFiles:
    """The root the sandbox-read dirs live under; `temporary` when it is not the
    data dir and `remove` must delete it when the server stops."""

    root: Path
    temporary: bool = False

    @property
    def code_dir(self) -> Path:
        return self.root / "code"

    @property
    def opt_dir(self) -> Path:
        return self.root / "opt"

    @property
    def work_root(self) -> Path:
        return self.root / "environments"

    def remove(self) -> None:
        if self.temporary:
            shutil.rmtree(self.root, ignore_errors=True)


def shared_files(data_dir: Path, backend_name: str) -> SharedFiles:
    """`data_dir` itself, unless the process backend's sandbox uid (when we are root)
    could not reach it: then a private temporary dir it can traverse."""
    if backend_name != "process" or os.geteuid() != 0 or reachable_by_others(data_dir):
        return SharedFiles(data_dir)
    root = Path(tempfile.mkdtemp(prefix="lambdad-files-"))
    if not reachable_by_others(root.parent):
        shutil.rmtree(root, ignore_errors=True)
        log.warning(
            "sandbox: neither %s nor the temp dir is reachable by the sandbox's user: "
            "functions will fail at Init; give the data dir's parents o+x",
            data_dir,
        )
        return SharedFiles(data_dir)
    root.chmod(0o711)  # traverse, never list: the names inside are not advertised
    log.warning(
        "sandbox: %s is out of the sandbox user's reach (a parent dir without o+x); "
        "the 'process' backend keeps code, /opt trees and work dirs in %s while it runs",
        data_dir,
        root,
    )
    return SharedFiles(root, temporary=True)
