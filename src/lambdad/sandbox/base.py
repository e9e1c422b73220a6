"""The Sandbox seam: what an execution environment needs from isolation.

A `SandboxBackend` turns a `SandboxSpec` (a plan: what to run, what to mount,
what limits to apply) into a running `Sandbox`. Nothing above `sandbox/` knows
about namespaces, bubblewrap or cgroups; it sees only these names.

Contract (OpenLambda's Sandbox, adapted):
- `start(spec)` returns once the sandbox's first process has been spawned with
  every limit already applied (cgroup membership before the first instruction
  of user code). It raises `SandboxError` if the sandbox could not be built;
  nothing is left behind in that case.
- A sandbox runs `spec.argv` as its init process. When init exits, every other
  process in the sandbox is killed.
- `destroy(reason)` is idempotent and always succeeds: it kills every process
  in the sandbox (frozen ones included), removes its cgroups, unmounts and
  deletes its private storage and `spec.work_dir`. A sandbox that errored is
  destroyed, never reused.
- `freeze()`/`thaw()` stop and resume every process (no CPU while frozen).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

from lambdad.errors import LambdadError
from lambdad.sandbox.rlimits import LAMBDA_RLIMITS

NetworkMode = Literal["none", "egress", "host"]
"""none: a network of its own (loopback and forwards); egress: that plus the internet,
none of the host's; host: the host's."""

MB_PER_VCPU = 1769
"""Lambda's CPU rule: one vCPU at 1,769 MB, in proportion below and above."""


class SandboxError(LambdadError):
    """The sandbox could not be built or driven (a platform fault, not the function's)."""

    code = "ServiceException"
    status = 500


@dataclass(frozen=True)
class Forward:
    """127.0.0.1:`port` inside the sandbox leads to `host`:`target_port` on the host
    (relayed by `forwarding.PortForwarder`)."""

    port: int
    host: str
    target_port: int


@dataclass(frozen=True)
class Mount:
    """A host path made visible inside the sandbox, read-only unless `writable`."""

    source: Path
    target: str
    writable: bool = False


@dataclass(frozen=True)
class ChildRoot:
    """A second root filesystem assembled inside the sandbox, which init starts the
    function's process in (chroot): a container image's, seen by the function as `/`.

    Its top-level entries come as `SandboxSpec.mounts` whose targets are below `path`
    (read-only); the backend adds a fresh /proc, a minimal /dev and the sandbox's /tmp
    there, makes it read-only, and leaves init (only) the capability to chroot into it.
    """

    path: str
    """Where it is assembled, as init sees it (the function never sees this path)."""
    symlinks: tuple[tuple[str, str], ...] = ()
    """(link target, name): top-level symlinks of the root (e.g. bin -> usr/bin)."""
    resolv_conf: bool = False
    """Bind the sandbox's own /etc/resolv.conf (its network mode's resolver, as a zip
    function's) over the root's etc/resolv.conf: a mount point exists there."""


@dataclass(frozen=True)
class SandboxSpec:
    sandbox_id: str
    argv: tuple[str, ...]
    """The init process, with paths as seen inside the sandbox."""
    env: Mapping[str, str]
    """The exact environment of the init process (nothing is inherited)."""
    mounts: tuple[Mount, ...]
    """Besides the read-only system dirs the backend always provides
    (/usr, /lib*, /bin, /sbin and a minimal /etc): e.g. code at /var/task,
    layers at /opt, the runtime's files and interpreter."""
    memory_mb: int
    ephemeral_storage_mb: int
    """Size of the private, disk-backed /tmp; writing past it gives ENOSPC."""
    work_dir: Path
    """A host dir private to this sandbox (sockets, /tmp backing); deleted by destroy."""
    network: NetworkMode = "none"
    forwards: tuple[Forward, ...] = ()
    """With network "none": loopback ports inside that lead to fixed host addresses
    (see `forwarding.py`); nothing else on the host is reachable."""
    pids_max: int = 1024
    cpus: float | None = None
    """CPU quota in cores; None means in proportion to memory (1769 MB = 1 vCPU)."""
    init_cpus: float | None = None
    """CPU quota until `Sandbox.end_init()` (the Init phase); None: `cpus` from the start.
    A 128 MB function gets 7% of a core, and importing a runtime at that rate turns a
    50 ms cold start into seconds; Lambda, too, lets Init run at full speed."""
    pass_fds: tuple[int, ...] = ()
    """Host fds inherited by the init process under the same numbers."""
    stdout_fd: int | None = None
    stderr_fd: int | None = None
    cwd: str = "/var/task"
    uid: int = 993
    gid: int = 990
    rlimits: Mapping[str, tuple[int, int]] = field(default_factory=lambda: LAMBDA_RLIMITS)
    """Resource limits, by name after RLIMIT_: (soft, hard). Lambda's by default."""
    late_mounts: tuple[str, ...] = ()
    """Targets left empty at start, each filled once later, read-only, by
    `LateMounts.attach` (a parked environment's /var/task and /opt). Only a backend
    whose `late_mounts` is true takes them; others raise SandboxError."""
    child_root: ChildRoot | None = None
    """A container image's root for the function (see `ChildRoot`); its /tmp is the
    sandbox's sized /tmp. None: the function shares init's root."""
    template: bool = False
    """A SnapStart template (`sandbox/restore.py`): its processes hold CAP_SYS_ADMIN and
    CAP_NET_ADMIN in the sandbox's own user namespace, to fork environments into
    namespaces of their own. Only a backend whose `restores` is true takes it."""
    init_reaps: bool = False
    """The init process reaps the orphans of the sandbox itself: it runs as pid 1 of
    the sandbox's pid namespace, with no reaper process of the backend's above it
    (one process less per sandbox). False: any argv, a reaper is provided."""


@dataclass(frozen=True)
class ExitStatus:
    returncode: int | None
    """Exit code, or None if killed by a signal."""
    signal: int | None
    oom_killed: bool = False


class Sandbox(Protocol):
    spec: SandboxSpec
    backend_name: str

    @property
    def pid(self) -> int: ...

    async def wait(self) -> ExitStatus:
        """Wait for the init process to exit."""
        ...

    def exit_status(self) -> ExitStatus | None:
        """The init process's exit status if it has exited, else None (no wait)."""
        ...

    def memory_peak_mb(self) -> int:
        """Peak memory of the sandbox since start or the last reset, in MB."""
        ...

    def reset_memory_peak(self) -> None: ...

    async def end_init(self) -> None:
        """Init is over: apply the steady CPU quota (`spec.cpus`)."""
        ...

    def oom_killed(self) -> bool:
        """Whether the kernel's OOM killer has fired in this sandbox."""
        ...

    def cpu_throttles(self) -> int:
        """How many CPU periods the kernel has held this sandbox back to its CPU share
        so far (it ran out of quota in each); 0 without a CPU limit. Blocking, but a
        single small cgroupfs read."""
        ...

    async def freeze(self) -> None: ...

    async def thaw(self) -> None: ...

    async def destroy(self, reason: str) -> None: ...


@runtime_checkable
class LateMounts(Protocol):
    """What a sandbox started with `spec.late_mounts` can do besides `Sandbox`'s."""

    async def attach(self, source: Path, target: str) -> None:
        """Show the host dir `source` read-only at `target` (one of `spec.late_mounts`),
        to every process of the sandbox. Raises SandboxError if it cannot."""
        ...

    async def resize(self, memory_mb: int, init_cpus: float | None) -> None:
        """Apply the limits of another memory size (and the Init phase's CPU quota)."""
        ...


class SandboxBackend(Protocol):
    name: str

    async def start(self, spec: SandboxSpec) -> Sandbox: ...

    async def close(self) -> None:
        """Release what the backend keeps ahead of time (spare cgroups, /tmp images)."""
        ...
