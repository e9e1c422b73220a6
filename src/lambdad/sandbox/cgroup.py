"""One sandbox's cgroups, on cgroup v1 (one hierarchy per controller) or v2 (unified).

`detect_layout()` reads the mount table once; `compute_limits()` and
`limit_writes()` are pure (the plan); `Cgroup` does the cgroupfs I/O (execute).
Every method of `Cgroup` blocks (cgroupfs writes can take milliseconds), so
async callers go through `lambdad.sandbox.blocking.run_blocking`.

Groups live under `<mount root>/<parent>/<name>` in every hierarchy we use.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lambdad.sandbox.base import MB_PER_VCPU
from lambdad.sandbox.blocking import run_blocking

log = logging.getLogger(__name__)

# 1769 MB of memory buys one vCPU on Lambda ("one vCPU-second of credits per
# second"). With the burst set to the quota, a mostly idle function may run up
# to two quotas at full speed (14 ms at 128 MB) before throttling sets in: short
# invocations are not stalled, sustained load still gets its share only.
# Why 100 ms and not a shorter period (a throttle stalls for at most the rest of
# one): the kernel caps the burst at the quota and the quota at >= 1 ms, so the
# saved-up credit shrinks with the period (2.9 ms at 128 MB with 20 ms), and a
# period under 14 ms cannot hold 128 MB's share at all. A function whose share
# runs out under a stream of invocations scales out instead (`pool/queueing.py`).
CPU_PERIOD_US = 100_000
# Below ~1 ms per period the scheduler throttles too coarsely to be useful.
MIN_CPU_QUOTA_US = 1_000
V1_CONTROLLERS = ("memory", "cpu", "pids", "freezer")
V2_CONTROLLERS = ("memory", "cpu", "pids")


@dataclass(frozen=True)
class CgroupLayout:
    """Where the cgroup hierarchies are mounted.

    v1: `roots` maps each controller we use to its hierarchy's mount point.
    v2: `roots` maps "" to the unified mount point.
    """

    version: Literal[1, 2]
    roots: Mapping[str, Path]

    def group_dirs(self, parent: str, name: str) -> dict[str, Path]:
        return {ctrl: root / parent / name for ctrl, root in self.roots.items()}


@dataclass(frozen=True)
class CgroupLimits:
    memory_bytes: int
    cpu_quota_us: int
    cpu_period_us: int
    pids_max: int


def parse_mounts(mounts_text: str) -> tuple[dict[str, Path], list[Path]]:
    """v1 controller -> mount point, and the cgroup2 mount points, from /proc/self/mounts."""
    v1: dict[str, Path] = {}
    v2: list[Path] = []
    for line in mounts_text.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        _, target, fstype, options = parts[:4]
        if fstype == "cgroup2":
            v2.append(Path(target))
        elif fstype == "cgroup":
            for opt in options.split(","):
                if opt in V1_CONTROLLERS:
                    v1.setdefault(opt, Path(target))
    return v1, v2


def choose_layout(
    v1: Mapping[str, Path], v2_controllers: Mapping[Path, str]
) -> CgroupLayout | None:
    """v2 when a unified mount has the memory controller; else v1 when it has memory and pids."""
    for root, controllers in v2_controllers.items():
        if {"memory", "pids"} <= set(controllers.split()):
            return CgroupLayout(version=2, roots={"": root})
    if "memory" in v1 and "pids" in v1:
        return CgroupLayout(version=1, roots=dict(v1))
    return None


def detect_layout(mounts_file: Path = Path("/proc/self/mounts")) -> CgroupLayout | None:
    """The host's usable cgroup layout, or None if there is none we can use."""
    try:
        v1, v2 = parse_mounts(mounts_file.read_text())
    except OSError:
        return None
    v2_controllers: dict[Path, str] = {}
    for root in v2:
        try:
            v2_controllers[root] = (root / "cgroup.controllers").read_text()
        except OSError:
            continue
    return choose_layout(v1, v2_controllers)


def compute_limits(
    memory_mb: int, cpus: float | None, pids_max: int, host_cpus: int
) -> CgroupLimits:
    """Memory as configured; CPU in proportion to memory (capped at the host's cores)."""
    share = cpus if cpus is not None else memory_mb / MB_PER_VCPU
    share = min(share, float(host_cpus))
    quota = max(MIN_CPU_QUOTA_US, round(share * CPU_PERIOD_US))
    return CgroupLimits(
        memory_bytes=memory_mb * 1024 * 1024,
        cpu_quota_us=quota,
        cpu_period_us=CPU_PERIOD_US,
        pids_max=pids_max,
    )


def limit_writes(version: Literal[1, 2], limits: CgroupLimits) -> list[tuple[str, str, str]]:
    """(controller, file, value) writes in the order they must happen; swap is always off."""
    mem = str(limits.memory_bytes)
    if version == 1:
        return [
            ("memory", "memory.limit_in_bytes", mem),
            # memsw (memory+swap) must be >= the memory limit, so it goes second.
            ("memory", "memory.memsw.limit_in_bytes", mem),
            ("memory", "memory.swappiness", "0"),
            # The burst may not exceed the quota: clear it before the quota moves.
            ("cpu", "cpu.cfs_burst_us", "0"),
            ("cpu", "cpu.cfs_period_us", str(limits.cpu_period_us)),
            ("cpu", "cpu.cfs_quota_us", str(limits.cpu_quota_us)),
            ("cpu", "cpu.cfs_burst_us", str(limits.cpu_quota_us)),
            ("pids", "pids.max", str(limits.pids_max)),
        ]
    return [
        ("", "memory.max", mem),
        ("", "memory.swap.max", "0"),
        ("", "cpu.max.burst", "0"),
        ("", "cpu.max", f"{limits.cpu_quota_us} {limits.cpu_period_us}"),
        ("", "cpu.max.burst", str(limits.cpu_quota_us)),
        ("", "pids.max", str(limits.pids_max)),
    ]


def stat_value(text: str, key: str) -> int:
    """`key`'s value in a flat-keyed cgroup file ("key value" lines: cpu.stat,
    memory.events, memory.oom_control); 0 when it is not there."""
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    return 0


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


class Cgroup:
    """One sandbox's group in every hierarchy we use. Not thread-safe; blocking."""

    def __init__(self, layout: CgroupLayout, parent: str, name: str) -> None:
        self.layout = layout
        self.name = name
        self.dirs = layout.group_dirs(parent, name)
        self._parent = parent
        self._peak_fd: int | None = None

    def _dir(self, ctrl: str) -> Path | None:
        return self.dirs.get("" if self.layout.version == 2 else ctrl)

    def create(self) -> None:
        if self.layout.version == 2:
            self._enable_v2_controllers()
        for d in self.dirs.values():
            d.mkdir(parents=True, exist_ok=True)

    def _enable_v2_controllers(self) -> None:
        # A v2 group only gets the controllers its parent lists in cgroup.subtree_control.
        root = self.layout.roots[""]
        want = " ".join(f"+{c}" for c in V2_CONTROLLERS)
        (root / self._parent).mkdir(parents=True, exist_ok=True)
        for d in (root, root / self._parent):
            try:
                _write(d / "cgroup.subtree_control", want)
            except OSError as e:
                log.warning("cgroup %s: cannot enable controllers (%s)", d, e)

    def apply(self, limits: CgroupLimits) -> None:
        writes = limit_writes(self.layout.version, limits)
        memory = self._dir("memory")
        if self.layout.version == 1 and memory is not None and self._raises_memory(memory, limits):
            # memsw may never be below the memory limit: when both grow, memsw goes first.
            writes[0], writes[1] = writes[1], writes[0]
        for ctrl, fname, value in writes:
            d = self._dir(ctrl)
            if d is None or not (d / fname).exists():
                continue  # e.g. no swap accounting on this host: nothing to turn off
            _write(d / fname, value)

    @staticmethod
    def _raises_memory(memory: Path, limits: CgroupLimits) -> bool:
        try:
            now = int((memory / "memory.limit_in_bytes").read_text())
        except (OSError, ValueError):
            return False
        return limits.memory_bytes > now and (memory / "memory.memsw.limit_in_bytes").exists()

    def apply_cpu(self, limits: CgroupLimits) -> None:
        """Change only the CPU quota (e.g. when Init ends)."""
        for ctrl, fname, value in limit_writes(self.layout.version, limits):
            d = self._dir(ctrl)
            if ctrl in ("cpu", "") and fname.startswith("cpu.") and d is not None:
                if (d / fname).exists():
                    _write(d / fname, value)

    def add_pid(self, pid: int) -> None:
        for d in self.dirs.values():
            _write(d / "cgroup.procs", str(pid))

    def pids(self) -> set[int]:
        found: set[int] = set()
        for d in self.dirs.values():
            try:
                found.update(int(x) for x in (d / "cgroup.procs").read_text().split())
            except FileNotFoundError:
                continue
        return found

    # -- freezer -------------------------------------------------------------

    def can_freeze(self) -> bool:
        return self.layout.version == 2 or "freezer" in self.dirs

    def set_frozen(self, frozen: bool, timeout: float = 5.0) -> None:
        """Freeze or thaw every process and wait until the kernel says it is done."""
        if self.layout.version == 2:
            d = self.dirs[""]
            _write(d / "cgroup.freeze", "1" if frozen else "0")
            want = f"frozen {int(frozen)}"
            self._wait_for(lambda: want in (d / "cgroup.events").read_text().splitlines(), timeout)
        else:
            d = self.dirs["freezer"]
            state = "FROZEN" if frozen else "THAWED"
            _write(d / "freezer.state", state)
            self._wait_for(lambda: (d / "freezer.state").read_text().strip() == state, timeout)

    def is_frozen(self) -> bool:
        try:
            if self.layout.version == 2:
                return (self.dirs[""] / "cgroup.freeze").read_text().strip() == "1"
            if "freezer" in self.dirs:
                return (self.dirs["freezer"] / "freezer.state").read_text().strip() != "THAWED"
        except FileNotFoundError:
            pass
        return False

    @staticmethod
    def _wait_for(cond: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        delay = 0.0005
        while not cond():
            if time.monotonic() > deadline:
                raise TimeoutError("cgroup state change timed out")
            time.sleep(delay)
            delay = min(delay * 2, 0.02)

    # -- memory --------------------------------------------------------------

    def memory_peak_bytes(self) -> int:
        fd = self._peak_file()
        if fd is not None:
            return int(os.pread(fd, 64, 0))
        if self.layout.version == 1:
            return int((self.dirs["memory"] / "memory.max_usage_in_bytes").read_text())
        return int((self.dirs[""] / "memory.current").read_text())

    def reset_memory_peak(self) -> None:
        fd = self._peak_file()
        if fd is None:
            if self.layout.version == 1:
                _write(self.dirs["memory"] / "memory.max_usage_in_bytes", "0")
            return
        try:
            # v1: resets the group's peak; v2 (Linux >= 6.12): the peak as seen
            # through this open file.
            os.pwrite(fd, b"0\n", 0)
        except OSError:
            log.debug("cgroup %s: memory peak cannot be reset on this kernel", self.name)

    def _peak_file(self) -> int | None:
        """The memory peak's file, kept open (it is read and reset on every invoke)."""
        if self._peak_fd is None:
            if self.layout.version == 1:
                path = self.dirs["memory"] / "memory.max_usage_in_bytes"
            else:
                path = self.dirs[""] / "memory.peak"
            try:
                self._peak_fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
            except PermissionError:
                self._peak_fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                return None
        return self._peak_fd

    def oom_kills(self) -> int:
        """How many processes the kernel OOM killer has killed in this group."""
        if self.layout.version == 1:
            text = (self.dirs["memory"] / "memory.oom_control").read_text()
        else:
            text = (self.dirs[""] / "memory.events").read_text()
        return stat_value(text, "oom_kill")

    # -- cpu -----------------------------------------------------------------

    def cpu_throttles(self) -> int:
        """How many of its periods the kernel has held this group back to its CPU
        quota so far (cpu.stat's nr_throttled, v1 and v2 alike); 0 where the group
        has no CPU controller. Opened per call, not kept open: it is read only when
        an invocation would wait for the group's environment (`pool/queueing.py`),
        and a kept fd per environment would count against the server's RLIMIT_NOFILE."""
        d = self._dir("cpu")
        if d is None:
            return 0
        try:
            return stat_value((d / "cpu.stat").read_text(), "nr_throttled")
        except FileNotFoundError:
            return 0

    # -- teardown ------------------------------------------------------------

    def kill_all(self, timeout: float = 5.0) -> None:
        """SIGKILL every process (frozen ones too) and wait until the group is empty."""
        self.send_kill()
        self.wait_empty(timeout)

    def send_kill(self) -> None:
        """SIGKILL every process, frozen ones too, without waiting for them to exit."""
        if self.layout.version == 2 and (self.dirs[""] / "cgroup.kill").exists():
            _write(self.dirs[""] / "cgroup.kill", "1")
        else:
            # Freeze first so a fork bomb cannot outrun us, kill, then thaw so the
            # frozen tasks can act on their pending SIGKILL.
            frozen = False
            if self.can_freeze():
                try:
                    self.set_frozen(True, timeout=1.0)
                    frozen = True
                except (OSError, TimeoutError) as e:
                    log.warning("cgroup %s: freeze before kill failed (%s)", self.name, e)
            self._signal_all()
            if frozen or self.is_frozen():
                self.set_frozen(False)

    def wait_empty(self, timeout: float = 5.0) -> None:
        """Wait until every process has exited, killing late arrivals (e.g. mid-fork)."""
        deadline = time.monotonic() + timeout
        while self.pids():
            if time.monotonic() > deadline:
                raise TimeoutError(f"cgroup {self.name}: processes survive SIGKILL")
            self._signal_all()
            time.sleep(0.002)

    def _signal_all(self) -> None:
        for pid in self.pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def remove(self, timeout: float = 5.0) -> None:
        """Remove the group's directories; retries while the kernel still sees it busy."""
        if self._peak_fd is not None:
            os.close(self._peak_fd)
            self._peak_fd = None
        deadline = time.monotonic() + timeout
        for d in self.dirs.values():
            while True:
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError as e:
                    if e.errno != errno.EBUSY or time.monotonic() > deadline:
                        raise
                    time.sleep(0.005)


class Freezing:
    """`Sandbox.freeze` and `thaw` for a sandbox whose processes are one cgroup's:
    through its freezer, off the event loop (the write and the state poll block).
    `_freezer()` names the cgroup (None: it has none, or is gone); `_stop(frozen)` is
    what the sandbox does without a freezer (nothing, unless it says otherwise)."""

    def _freezer(self) -> Cgroup | None:
        raise NotImplementedError

    def _stop(self, frozen: bool) -> None:
        """Without a freezer."""

    async def freeze(self) -> None:
        await self._set_frozen(True)

    async def thaw(self) -> None:
        await self._set_frozen(False)

    async def _set_frozen(self, frozen: bool) -> None:
        cg = self._freezer()
        if cg is not None and cg.can_freeze():
            await run_blocking(lambda: cg.set_frozen(frozen))
        else:
            self._stop(frozen)
