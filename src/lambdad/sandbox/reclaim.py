"""Reclaiming what a server left behind when it died.

Running sandboxes die with their server (`--die-with-parent`), but frozen ones
do not act on that SIGKILL (cgroup v1), and cgroups and loop-mounted /tmp disks
outlive a server killed with SIGKILL whatever their state. The backend's
supervisor reclaims them as soon as the server is gone (see `supervisor.py`),
and a backend does it again at start, within its own cgroup parent and state
dir only, so that servers side by side never touch each other's.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path

from lambdad.sandbox.cgroup import Cgroup, CgroupLayout
from lambdad.sandbox.running import SANDBOX_GROUP_PREFIX
from lambdad.sandbox.tmpdisk import unmount

log = logging.getLogger(__name__)


def mounts_under(root: Path, mounts_text: str) -> list[Path]:
    """Mount points below `root`, deepest first (so nested ones go first)."""
    prefix = str(root.resolve()).rstrip("/") + "/"
    points = []
    for line in mounts_text.splitlines():
        fields = line.split()
        if len(fields) >= 2:
            # /proc/mounts escapes spaces and the like as octal: \040.
            point = fields[1].encode().decode("unicode_escape")
            if point.startswith(prefix):
                points.append(Path(point))
    return sorted(points, key=lambda p: len(p.parts), reverse=True)


def default_cgroup_parent(state_dir: Path) -> str:
    """A cgroup parent of a backend's own, named after its state dir.

    Backends side by side (servers on other data dirs, test fixtures) each
    reclaim only their own leftovers; a server restarted on the same data dir
    finds its predecessor's.
    """
    digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:12]
    return f"lambdad/{digest}"


def reclaim(state_dir: Path, layout: CgroupLayout | None, cgroup_parent: str) -> int:
    """Kill and remove leftover sandbox cgroups, unmount and delete leftover disks.

    Returns how many sandbox cgroups were reclaimed."""
    reclaimed = 0 if layout is None else _reclaim_groups(layout, cgroup_parent)
    disks = state_dir / "disks"
    if disks.exists():
        # The disks first, then the mount of their dir itself (see TmpDiskFactory).
        for point in [*mounts_under(disks, Path("/proc/self/mounts").read_text()), disks]:
            try:
                unmount(point)
            except OSError as e:
                log.warning("sandbox: cannot unmount leftover %s (%s)", point, e)
        shutil.rmtree(disks, ignore_errors=True)
    return reclaimed


def _reclaim_groups(layout: CgroupLayout, cgroup_parent: str) -> int:
    names: set[str] = set()
    for root in layout.roots.values():
        parent = root / cgroup_parent
        if parent.is_dir():
            # Only sandbox groups: another backend's parent may live beside them.
            names.update(
                child.name
                for child in parent.iterdir()
                if child.is_dir() and child.name.startswith(SANDBOX_GROUP_PREFIX)
            )
    groups = [Cgroup(layout, cgroup_parent, name) for name in sorted(names)]
    # Every group gets its kill before any is waited for: their processes exit
    # side by side, so a dead server's hundreds of sandboxes go in seconds.
    for group in groups:
        try:
            group.send_kill()
        except (OSError, TimeoutError) as e:
            log.warning("sandbox: cannot kill leftover cgroup %s (%s)", group.name, e)
    reclaimed = 0
    for group in groups:
        try:
            group.wait_empty()
            group.remove()
            reclaimed += 1
        except (OSError, TimeoutError) as e:
            log.warning("sandbox: cannot reclaim cgroup %s/%s (%s)", cgroup_parent, group.name, e)
    return reclaimed


def remove_parent(layout: CgroupLayout | None, cgroup_parent: str) -> None:
    """Remove a backend's (empty) cgroup parent when it closes."""
    if layout is None:
        return
    for root in layout.roots.values():
        try:
            (root / cgroup_parent).rmdir()
        except OSError:
            pass  # still in use, or never made: nothing of ours to remove
