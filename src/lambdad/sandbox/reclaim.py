"""Reclaiming what a previous server left behind after a crash.

Sandboxes are killed with their server (`--die-with-parent`), but their
cgroups and their loop-mounted /tmp disks outlive a server that was killed
with SIGKILL. A backend reclaims them at start, within its own cgroup parent
and state dir only, so that servers side by side never touch each other's.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from lambdad.sandbox.cgroup import Cgroup, CgroupLayout
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


def reclaim(state_dir: Path, layout: CgroupLayout | None, cgroup_parent: str) -> None:
    """Kill and remove leftover sandbox cgroups, unmount and delete leftover disks."""
    reclaimed = 0
    if layout is not None:
        names: set[str] = set()
        for root in layout.roots.values():
            parent = root / cgroup_parent
            if parent.is_dir():
                names.update(child.name for child in parent.iterdir() if child.is_dir())
        for name in sorted(names):
            group = Cgroup(layout, cgroup_parent, name)
            try:
                group.kill_all()
                group.remove()
                reclaimed += 1
            except (OSError, TimeoutError) as e:
                log.warning("sandbox: cannot reclaim cgroup %s/%s (%s)", cgroup_parent, name, e)
    disks = state_dir / "disks"
    if disks.exists():
        for point in mounts_under(disks, Path("/proc/self/mounts").read_text()):
            try:
                unmount(point)
            except OSError as e:
                log.warning("sandbox: cannot unmount leftover %s (%s)", point, e)
        shutil.rmtree(disks, ignore_errors=True)
    if reclaimed:
        log.warning("sandbox: reclaimed %d sandbox(es) a previous server left behind", reclaimed)
