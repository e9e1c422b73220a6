"""A backend started on a crashed server's state reclaims its cgroups and disks."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from lambdad.sandbox import BwrapBackend
from lambdad.sandbox.backend import usable_cgroup_layout
from lambdad.sandbox.cgroup import Cgroup
from lambdad.sandbox.tmpdisk import TmpDiskFactory
from support.marks import needs_sandbox

pytestmark = [
    pytest.mark.integration,
    pytest.mark.anyio,
    *needs_sandbox,
]


async def test_leftovers_of_a_crashed_server_are_reclaimed(tmp_path: Path) -> None:
    layout = usable_cgroup_layout()
    assert layout is not None
    parent = f"lambdad-test/{tmp_path.name}"
    state = tmp_path / "state"
    # What a SIGKILLed server leaves: a group with a live process, a mounted disk.
    orphan = Cgroup(layout, parent, "sbx-orphan")
    orphan.create()
    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        orphan.add_pid(sleeper.pid)
        disk = TmpDiskFactory(state).create(16)
        assert os.path.ismount(disk.path)

        backend = BwrapBackend(state_dir=state, spares=0, cgroup_parent=parent)
        await backend.close()

        assert sleeper.wait(timeout=30) == -9
        assert not any(d.exists() for d in orphan.dirs.values())
        assert not os.path.ismount(disk.path)
        assert not (state / "disks").exists()
    finally:
        sleeper.kill()
        sleeper.wait()
        for root in layout.roots.values():
            for d in (root / parent, root / "lambdad-test"):
                try:
                    d.rmdir()
                except OSError:
                    pass
