"""A started sandbox: its first process, its cgroup, its /tmp; and the slots they come from.

A `Slot` is everything a sandbox needs that does not depend on its spec: a
cgroup, a launcher already inside it, and optionally a /tmp disk. Backends
make slots ahead of time (`SlotMaker`) so that start() only writes limits and
execs. `RunningSandbox` implements the `Sandbox` protocol for both backends.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import signal
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import anyio

from lambdad.sandbox.base import ExitStatus, SandboxError, SandboxSpec
from lambdad.sandbox.blocking import run_blocking
from lambdad.sandbox.cgroup import Cgroup, CgroupLayout, Freezing, compute_limits
from lambdad.sandbox.forwarding import ForwardHandle
from lambdad.sandbox.launcher import Launcher
from lambdad.sandbox.tmpdisk import TmpDisk, TmpDiskFactory

log = logging.getLogger(__name__)

SANDBOX_GROUP_PREFIX = "sbx-"
MB = 1024 * 1024


@dataclass
class Slot:
    launcher: Launcher
    cgroup: Cgroup | None
    disk: TmpDisk | None
    released: list[Callable[[], None]] = field(default_factory=list)
    """Run once every process of the slot is gone (e.g. give back its host uid).
    Never run if the teardown failed: what they release may still be in use."""
    listeners: list[socket.socket] = field(default_factory=list)
    """The sandbox's forward listeners (see `forwarding.py`), until relayed."""

    def discard(self) -> None:
        """Tear the slot down (blocking); used for spares and failed starts."""
        self.close_listeners()
        self.launcher.kill()
        if self.cgroup is not None:
            self.cgroup.kill_all()
            self.cgroup.remove()
        if self.disk is not None:
            self.disk.remove()
        self.release()

    def close_listeners(self) -> None:
        while self.listeners:
            self.listeners.pop().close()

    def release(self) -> None:
        while self.released:
            self.released.pop()()


@dataclass
class SlotMaker:
    python: str
    layout: CgroupLayout | None
    cgroup_parent: str
    disks: TmpDiskFactory
    disk_mb: int | None
    """Size of the /tmp disk to prepare ahead of time; None prepares none."""

    def make(self) -> Slot:
        """Blocking; call on the spawn thread (see launcher.py)."""
        cgroup = None
        if self.layout is not None:
            cgroup = Cgroup(
                self.layout, self.cgroup_parent, f"{SANDBOX_GROUP_PREFIX}{uuid.uuid4().hex[:12]}"
            )
            cgroup.create()
        try:
            launcher = Launcher.spawn(self.python)
        except BaseException:
            if cgroup is not None:
                cgroup.remove()
            raise
        slot = Slot(launcher=launcher, cgroup=cgroup, disk=None)
        try:
            if cgroup is not None:
                cgroup.add_pid(launcher.pid)
            if self.disk_mb is not None:
                slot.disk = self.disks.create(self.disk_mb)
        except BaseException:
            slot.discard()
            raise
        return slot

    def disk_for(self, slot: Slot, size_mb: int) -> TmpDisk:
        """The slot's disk if it has the right size, else a new one (blocking)."""
        if slot.disk is not None and slot.disk.size_mb != size_mb:
            slot.disk.remove()
            slot.disk = None
        if slot.disk is None:
            slot.disk = self.disks.create(size_mb)
        return slot.disk


class RunningSandbox(Freezing):
    """A started sandbox. See `lambdad.sandbox.base` for the contract."""

    def __init__(
        self,
        spec: SandboxSpec,
        backend_name: str,
        slot: Slot,
        signal_exit_codes: bool,
        host_cpus: int = 1,
    ) -> None:
        self._host_cpus = host_cpus
        self.spec = spec
        self.backend_name = backend_name
        self._slot = slot
        self._proc = slot.launcher.proc
        self._pidfd: int | None = os.pidfd_open(self._proc.pid)
        # bwrap reports a child killed by signal N as exit code 128+N, like a shell.
        self._signal_exit_codes = signal_exit_codes
        self._exited: anyio.Event | None = None
        self._destroyed = False
        self._destroy_done: anyio.Event | None = None
        self._oom_at_destroy = False  # the cgroup is gone after destroy; remember its verdict
        self.forwards: ForwardHandle | None = None
        self.attacher: Callable[[Path, str], None] | None = None
        """Does `attach`'s mount (blocking); set by a backend that takes late mounts."""

    @property
    def pid(self) -> int:
        return self._proc.pid

    def take_listeners(self) -> list[socket.socket]:
        """The forward listeners the launcher made (see `forwarding.py`); ours to close."""
        listeners, self._slot.listeners = self._slot.listeners, []
        return listeners

    async def wait(self) -> ExitStatus:
        if self._exited is not None:
            await self._exited.wait()
        elif self._proc.returncode is None and self._pidfd is not None:
            self._exited = anyio.Event()
            try:
                await anyio.wait_readable(self._pidfd)
            except anyio.ClosedResourceError:
                pass  # destroy() reaped it
            finally:
                self._exited.set()
        if self._proc.returncode is None:
            await run_blocking(self._proc.wait)
        status = self.exit_status()
        assert status is not None
        return status

    def exit_status(self) -> ExitStatus | None:
        rc = self._proc.poll()
        if rc is None:
            return None
        sig: int | None = None
        if rc < 0:
            sig = -rc
        elif self._signal_exit_codes and 128 < rc <= 128 + 64:
            sig = rc - 128
        return ExitStatus(returncode=None if sig else rc, signal=sig, oom_killed=self.oom_killed())

    def memory_peak_mb(self) -> int:
        cg = self._slot.cgroup
        if cg is None or self._destroyed:
            return 0
        return math.ceil(cg.memory_peak_bytes() / MB)

    def reset_memory_peak(self) -> None:
        if self._slot.cgroup is not None and not self._destroyed:
            self._slot.cgroup.reset_memory_peak()

    async def end_init(self) -> None:
        cg = self._slot.cgroup
        if cg is None or self._destroyed or self.spec.init_cpus is None:
            return
        spec = self.spec
        limits = compute_limits(spec.memory_mb, spec.cpus, spec.pids_max, self._host_cpus)
        await run_blocking(lambda: cg.apply_cpu(limits))

    async def attach(self, source: Path, target: str) -> None:
        attacher = self.attacher
        if attacher is None or target not in self.spec.late_mounts or self._destroyed:
            raise SandboxError(f"sandbox {self.spec.sandbox_id}: cannot mount at {target}")
        await run_blocking(lambda: attacher(source, target))

    async def resize(self, memory_mb: int, init_cpus: float | None) -> None:
        self.spec = replace(self.spec, memory_mb=memory_mb, init_cpus=init_cpus)
        cg, spec = self._slot.cgroup, self.spec
        if cg is None or self._destroyed:
            return
        cpus = spec.init_cpus if spec.init_cpus is not None else spec.cpus
        limits = compute_limits(spec.memory_mb, cpus, spec.pids_max, self._host_cpus)
        await run_blocking(lambda: cg.apply(limits))

    def cpu_throttles(self) -> int:
        cg = self._slot.cgroup
        if cg is None or self._destroyed:
            return 0
        return cg.cpu_throttles()

    def oom_killed(self) -> bool:
        cg = self._slot.cgroup
        if cg is None:
            return False
        try:
            return cg.oom_kills() > 0
        except FileNotFoundError:
            return self._oom_at_destroy

    def _freezer(self) -> Cgroup | None:
        return self._slot.cgroup

    def _stop(self, frozen: bool) -> None:
        if self._proc.poll() is None:
            # No freezer: stop the process group (processes that left it keep running).
            os.killpg(self._proc.pid, signal.SIGSTOP if frozen else signal.SIGCONT)

    async def destroy(self, reason: str) -> None:
        if self._destroyed:
            if self._destroy_done is not None:
                await self._destroy_done.wait()
            return
        self._destroyed = True
        self._destroy_done = anyio.Event()
        # The environment logs its destruction (once); this is the sandbox's detail.
        log.debug("sandbox %s: destroying (%s)", self.spec.sandbox_id, reason)
        if self.forwards is not None:
            self.forwards.close()
        try:
            await run_blocking(self._teardown)
        finally:
            if self._pidfd is not None:
                anyio.notify_closing(self._pidfd)
                os.close(self._pidfd)
                self._pidfd = None
            self._destroy_done.set()

    def _teardown(self) -> None:
        cg = self._slot.cgroup
        if cg is not None:
            try:
                self._oom_at_destroy = cg.oom_kills() > 0
            except OSError:
                self._oom_at_destroy = False
            cg.kill_all()
        elif self._proc.poll() is None:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._slot.launcher.kill()
        self._slot.close_listeners()
        if cg is not None:
            cg.remove()
        if self._slot.disk is not None:
            self._slot.disk.remove()
        shutil.rmtree(self.spec.work_dir, ignore_errors=True)
        self._slot.release()


def fd_map(spec: SandboxSpec) -> dict[int, int]:
    """Target fd number in the sandbox -> our fd, for the launcher."""
    fds = {fd: fd for fd in spec.pass_fds}
    if spec.stdout_fd is not None:
        fds[1] = spec.stdout_fd
    if spec.stderr_fd is not None:
        fds[2] = spec.stderr_fd
    return fds


def prepare_work_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
