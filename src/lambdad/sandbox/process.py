"""The fallback backend: a plain process, for hosts that cannot create namespaces.

It is NOT isolation. What it does: the exact env of the spec, its own session,
cgroup limits when we may create cgroups (root), the spec's uid/gid when we
are root, and a per-sandbox /tmp (a loop-mounted disk when root, else a plain
directory). What it cannot do: remap paths. argv entries and cwd that start
with a mount target are rewritten to the mount's host source; env values (e.g.
LAMBDA_TASK_ROOT=/var/task) are left as they are, /tmp inside the function is
the host's /tmp, and the function sees the host's files, processes and network.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

from lambdad.sandbox.backend import SlotPool, usable_cgroup_layout
from lambdad.sandbox.base import Mount, Sandbox, SandboxError, SandboxSpec
from lambdad.sandbox.blocking import run_blocking
from lambdad.sandbox.reclaim import default_cgroup_parent
from lambdad.sandbox.rlimits import without
from lambdad.sandbox.running import Slot, SlotMaker, fd_map
from lambdad.sandbox.tmpdisk import TmpDiskFactory

log = logging.getLogger(__name__)


def host_path(path: str, mounts: tuple[Mount, ...]) -> str:
    """The host path behind an inside path, via the longest matching mount target."""
    best: Mount | None = None
    for m in mounts:
        t = m.target.rstrip("/")
        if (path == t or path.startswith(t + "/")) and (
            best is None or len(t) > len(best.target.rstrip("/"))
        ):
            best = m
    if best is None:
        return path
    return str(best.source) + path[len(best.target.rstrip("/")) :]


class ProcessBackend:
    """Runs each sandbox as a plain process. See the module docstring for its limits."""

    name = "process"
    late_mounts = False
    """It remaps no paths: nothing can be mounted into a running sandbox."""

    def __init__(
        self,
        *,
        state_dir: Path | None = None,
        spares: int = 2,
        cgroup_parent: str | None = None,
        python: str | None = None,
    ) -> None:
        log.warning(
            "sandbox: using the 'process' backend: functions are NOT isolated from the host "
            "(no namespaces, no read-only root, no path remapping of env or /tmp)"
        )
        self.state_dir = state_dir or Path(tempfile.mkdtemp(prefix="lambdad-sandbox-"))
        self._root = os.geteuid() == 0
        self._host_cpus = os.cpu_count() or 1
        layout = usable_cgroup_layout()
        cgroup_parent = cgroup_parent or default_cgroup_parent(self.state_dir)
        self._pool = SlotPool(
            SlotMaker(
                python=python or os.path.realpath(sys.executable),
                layout=layout,
                cgroup_parent=cgroup_parent,
                disks=TmpDiskFactory(self.state_dir),
                disk_mb=None,
            ),
            spares,
        )

    async def start(self, spec: SandboxSpec) -> Sandbox:
        if spec.late_mounts:
            raise SandboxError("the process backend takes no late mounts")
        if spec.child_root is not None:
            # A plain process cannot be given a root filesystem of its own.
            raise SandboxError(
                "container image functions need the bwrap sandbox backend: the process "
                "backend cannot give a function its image's root filesystem"
            )
        return await self._pool.launch(
            spec, self._exec, self.name, signal_exit_codes=False, host_cpus=self._host_cpus
        )

    def _exec(self, spec: SandboxSpec, slot: Slot) -> None:
        if self._root:
            # A private /tmp the function can reach only by its host path (work_dir/...).
            disk = self._pool.maker.disk_for(slot, spec.ephemeral_storage_mb)
            disk.prepare_for(spec.uid, spec.gid)
        argv = [host_path(a, spec.mounts) for a in spec.argv]
        slot.launcher.exec(
            argv,
            spec.env,
            fd_map(spec),
            cwd=host_path(spec.cwd, spec.mounts),
            uid=spec.uid if self._root else None,
            gid=spec.gid if self._root else None,
            # Its sandboxes share one host uid, which RLIMIT_NPROC would count as one.
            rlimits=without(spec.rlimits, "NPROC"),
        )
        if slot.cgroup is not None:
            slot.cgroup.reset_memory_peak()

    async def close(self) -> None:
        await self._pool.close()
        await run_blocking(lambda: shutil.rmtree(self.state_dir, ignore_errors=True))
