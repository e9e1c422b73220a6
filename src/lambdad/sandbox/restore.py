"""SnapStart's restore by fork, host side: a template sandbox and the sandboxes forked from it.

A template is a sandbox started with `SandboxSpec.template`: its runtime holds
CAP_SYS_ADMIN and CAP_NET_ADMIN in the sandbox's own user namespace (never
more: no nested user namespace, the seccomp filter, no_new_privs), runs Init,
and then forks environments on command (the in-sandbox half is
`runtimes/bootstraps/python/restore.py`, which says how a child is made).

What the host does not leave to code the function could have changed:
- `check_template`, before a template is kept: its runtime has one thread and
  the sandbox holds no process besides init and the runtime.
- `fork_sandbox`, before a child runs any of the function's code: its pid comes
  from the kernel (SCM_CREDENTIALS), not from what it says; it must be pid 1 of a
  pid namespace below the template's, in namespaces of its own, with every
  capability set empty, no_new_privs and the seccomp filter, and no writable
  mount but its own /tmp, /dev/shm and /dev/pts (`shared_mount`: nothing
  writable is shared between two children or with the template); then the host
  moves it into a cgroup of its own with the function's memory, CPU and pids
  limits and only then releases it. Every wait is bounded; anything else
  destroys the child.

The fork command carries the new environment's channels as SCM_RIGHTS (see
`runtimes/bootstraps/python/restore.py`): its init's channel (the fork protocol,
then init's frames), its runtime's direct channel and the write end of its
output pipe; the host keeps the other ends (`HostEnds`), which the environment
reads as one link (`runtimes.direct`): no frame of an invocation crosses pid 1.

A child is a `RestoredSandbox`; it dies with its template (a pid namespace
below the template's), so a template is killed only with its version.
"""

from __future__ import annotations

import array
import collections
import json
import logging
import math
import os
import secrets
import select
import shutil
import socket
import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import anyio

from lambdad.sandbox.base import ExitStatus, SandboxError, SandboxSpec
from lambdad.sandbox.blocking import run_blocking
from lambdad.sandbox.cgroup import Cgroup, CgroupLayout, Freezing, compute_limits
from lambdad.sandbox.forwarding import ForwardHandle, PortForwarder
from lambdad.sandbox.launcher import SpawnThread
from lambdad.sandbox.running import SANDBOX_GROUP_PREFIX
from lambdad.sandbox.tmpdisk import TmpDisk, TmpDiskFactory

log = logging.getLogger(__name__)

T = TypeVar("T")

MB = 1024 * 1024
FORK_TIMEOUT_S = 10.0
"""How long a child may take to report (a busy host: far more than it needs)."""
OWN_MOUNTS = ("/tmp", "/dev/shm", "/dev/pts")
"""The writable mounts a child makes for itself; any other it holds must be read-only
(or a device node)."""
_CAPS = ("CapInh", "CapPrm", "CapEff", "CapAmb")


def proc_status(pid: int) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return fields


def check_template(pids: set[int]) -> str | None:
    """Why the template whose cgroup holds `pids` may not be kept (None: it may).

    Blocking. Looks only at what the kernel says about the processes inside the
    sandbox's pid namespace (the launcher and bwrap outside it are ours)."""
    inside: list[tuple[int, dict[str, str]]] = []
    for pid in sorted(pids):
        try:
            status = proc_status(pid)
        except OSError:
            continue
        if len(status.get("NSpid", "").split()) >= 2:
            inside.append((pid, status))
    if len(inside) != 2:
        return f"{len(inside)} processes in the sandbox (init and the runtime expected)"
    _runtime, status = max(inside, key=lambda item: item[0])
    if status.get("Threads") != "1":
        return f"the runtime has {status.get('Threads')} threads after Init (one expected)"
    return None


def private_mb(pids: set[int]) -> float:
    """The private memory (USS: Private_Clean + Private_Dirty) of `pids`, MB. Blocking."""
    total_kb = 0
    for pid in pids:
        try:
            lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total_kb += int(line.split()[1])
    return total_kb / 1024


def runtime_of(pids: set[int]) -> int | None:
    """The template's runtime: the newest process inside the sandbox's pid namespace."""
    inside = []
    for pid in pids:
        try:
            if len(proc_status(pid).get("NSpid", "").split()) >= 2:
                inside.append(pid)
        except OSError:
            continue
    return max(inside) if len(inside) >= 2 else None


def born(pid: int) -> bool:
    """Whether `pid` is pid 1 of a pid namespace below the template's (blocking)."""
    nspid = proc_status(pid).get("NSpid", "").split()
    return len(nspid) >= 3 and nspid[-1] == "1"


def parent_of(pid: int) -> int:
    """`pid`'s parent as the host sees it (0: gone). Blocking."""
    try:
        return int(proc_status(pid).get("PPid", "0"))
    except (OSError, ValueError):
        return 0


def check_child(pid: int, template_pid: int, seccomp: bool) -> str | None:
    """Why the child `pid` may not run (None: it may). Blocking."""
    status = proc_status(pid)
    nspid = status.get("NSpid", "").split()
    if len(nspid) < 3 or nspid[-1] != "1":
        return f"not pid 1 of a pid namespace of its own (NSpid {nspid})"
    for name in _CAPS:
        if int(status.get(name, "1"), 16) != 0:
            return f"it kept capabilities ({name} {status.get(name)})"
    if status.get("NoNewPrivs") != "1":
        return "no_new_privs is off"
    if seccomp and status.get("Seccomp") != "2":
        return "it has no seccomp filter"
    for ns in ("mnt", "pid_for_children", "net", "ipc", "uts"):
        if os.readlink(f"/proc/{pid}/ns/{ns}") == os.readlink(f"/proc/{template_pid}/ns/{ns}"):
            return f"it shares the template's {ns} namespace"
    return shared_mount(
        Path(f"/proc/{pid}/mountinfo").read_text(),
        Path(f"/proc/{template_pid}/mountinfo").read_text(),
    )


def shared_mount(child: str, template: str) -> str | None:
    """Why the child's mounts (mountinfo text) may share writable state with the
    template's or a sibling's (None: they may not). Pure."""
    template_devices = {line.split()[2] for line in template.splitlines() if line.strip()}
    # What a path reaches is the mount on top of the others at it (those under it are
    # hidden): the one no other mount at that path is mounted on. Usually listed last;
    # not when it was attached later with move_mount(2) (a child's own /tmp disk).
    at: dict[str, list[list[str]]] = {}
    for line in child.splitlines():
        fields = line.split()
        if len(fields) >= 10:
            at.setdefault(fields[4], []).append(fields)
    top: dict[str, list[str]] = {}
    for target, mounts in at.items():
        under = {fields[1] for fields in mounts}  # parents of a mount at this path
        uppermost = [fields for fields in mounts if fields[0] not in under]
        top[target] = (uppermost or mounts)[-1]
    own: set[str] = set()
    for fields in top.values():
        device, target, options = fields[2], fields[4], fields[5].split(",")
        fstype = fields[fields.index("-") + 1] if "-" in fields else ""
        if target in OWN_MOUNTS:
            if device in template_devices:
                return f"its {target} is the template's"
            own.add(target)
        elif "rw" in options and not target.startswith("/proc") and fstype != "devtmpfs":
            return f"a writable mount at {target} it would share"
    missing = set(OWN_MOUNTS) - own
    return f"no {', '.join(sorted(missing))} of its own" if missing else None


def _receive_report(
    sock: socket.socket, max_fds: int, expected: bytes
) -> tuple[int, list[socket.socket]]:
    """The child's one-byte message `expected` ("P": born, "R": ready): (its pid as the
    kernel gives it, the fds it sent: its forward listeners). Blocking."""
    fd_space = socket.CMSG_SPACE(max(max_fds, 1) * 4)
    cred_space = socket.CMSG_SPACE(struct.calcsize("3i"))
    data, ancillary, _flags, _addr = sock.recvmsg(1, fd_space + cred_space)
    pid = 0
    fds = array.array("i")
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
        elif level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("3i", payload[: struct.calcsize("3i")])[0]
    listeners = [socket.socket(fileno=fd) for fd in fds]
    if data != expected or pid <= 0 or len(listeners) > max_fds:
        for sock_ in listeners:
            sock_.close()
        raise SandboxError(f"a restored child reported {data!r} (pid {pid})")
    return pid, listeners


class Spares(Generic[T]):
    """Things made ahead in a thread of their own, off the request path (`make`), one
    taken per fork (made then if none is left), the rest ended at `close` (`end`)."""

    def __init__(
        self, make: Callable[[], T], end: Callable[[T], None], spares: int, name: str
    ) -> None:
        self._make = make
        self._end = end
        self.spares = spares
        self._name = name
        self._ready: collections.deque[T] = collections.deque()
        self._thread = SpawnThread(f"lambdad-sandbox-{name}")
        self._closed = False

    def take(self) -> T:
        """One made (blocking)."""
        try:
            made = self._ready.popleft()
        except IndexError:
            made = self._make()
        if not self._closed:
            self._thread.submit(self._refill)
        return made

    def _refill(self) -> None:
        try:
            while not self._closed and len(self._ready) < self.spares:
                self._ready.append(self._make())
        except (OSError, subprocess.SubprocessError):
            log.exception("sandbox: cannot make a spare of %s", self._name)

    def close(self) -> None:
        """End the spares (blocking)."""
        self._closed = True
        self._thread.shutdown()
        while self._ready:
            self._end(self._ready.popleft())


class SpareCgroups(Spares[Cgroup]):
    """Empty cgroups made ahead: making one costs ~10 ms on a cgroup v1 host (a dir in
    each hierarchy), a third of a restore. Kept from the first restore on (a server
    without SnapStart versions or on-demand templates makes none)."""

    def __init__(self, layout: CgroupLayout, parent: str, spares: int = 2) -> None:
        self.layout = layout
        self.parent = parent
        super().__init__(self._new, Cgroup.remove, spares, "cgroups")

    def _new(self) -> Cgroup:
        # A sandbox's prefix: a dead server's supervisor reclaims it (thaws, kills, removes)
        # with the others (`reclaim.py`), and its parent can go.
        name = f"{SANDBOX_GROUP_PREFIX}restored-{secrets.token_hex(6)}"
        cgroup = Cgroup(self.layout, self.parent, name)
        cgroup.create()
        return cgroup


class SpareDisks(Spares[TmpDisk]):
    """/tmp disks of the common size made ahead for forked children: making one (a copy
    of the image, a loop mount) costs ~90 ms, which a burst of cold starts would pay
    one after another (a template forks one child at a time)."""

    def __init__(self, disks: TmpDiskFactory, size_mb: int = 512, spares: int = 2) -> None:
        self.disks = disks
        self.size_mb = size_mb
        super().__init__(lambda: disks.create(size_mb), TmpDisk.remove, spares, "disks")

    def disk(self, size_mb: int) -> TmpDisk:
        """A disk of `size_mb` (blocking): a spare one of the common size."""
        return self.take() if size_mb == self.size_mb else self.disks.create(size_mb)


@dataclass
class HostEnds:
    """The host's ends of a restored environment's channels: its init's, its runtime's
    direct channel and the read end of its output pipe (`runtimes.direct`'s three)."""

    init: socket.socket
    runtime: socket.socket
    output: int

    @classmethod
    def make(cls) -> tuple[HostEnds, tuple[socket.socket, socket.socket, int]]:
        """(the host's ends, the child's: to send with the fork command, then close)."""
        init, init_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        runtime, runtime_child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        output_r, output_w = os.pipe()
        return cls(init, runtime, output_r), (init_child, runtime_child, output_w)

    def close(self) -> None:
        self.init.close()
        self.runtime.close()
        if self.output >= 0:
            os.close(self.output)
            self.output = -1


def _close_child_ends(ends: tuple[socket.socket, socket.socket, int]) -> None:
    ends[0].close()
    ends[1].close()
    os.close(ends[2])


@dataclass
class Forked:
    """A child forked from a template, checked and in its cgroup, that waits for "G"
    (its variables) before it runs anything of the function's: made ahead of a cold
    start (`prefork`), or at it. `release` makes it an environment; `discard` ends it."""

    pid: int
    cgroup: Cgroup
    ends: HostEnds
    listeners: list[socket.socket]
    spec: SandboxSpec
    """Its limits, /tmp, cwd and forwards (its id and variables come at `release`)."""
    disk: TmpDisk | None = None
    """Its /tmp, when it is a disk of its own (else a tmpfs it mounted itself)."""

    def alive(self) -> bool:
        return Path(f"/proc/{self.pid}").exists()

    def discard(self) -> None:
        """Blocking."""
        for sock in self.listeners:
            sock.close()
        self.ends.close()
        _discard(self.cgroup, self.pid)
        if self.disk is not None:
            self.disk.remove()


OPEN_TREE_CLONE, OPEN_TREE_CLOEXEC, AT_RECURSIVE, AT_FDCWD = 1, 0o2000000, 0x8000, -100
SYS_OPEN_TREE = 428
"""open_tree(2)'s number (the same on every architecture: it came after the unification)."""


def disk_tree(disks: SpareDisks, size_mb: int, owner: int) -> tuple[TmpDisk, int]:
    """A /tmp disk of `size_mb` for a child (its root dir owned by the host pid `owner`'s
    uid and gid: the template's), and a detached copy of its mount (an open_tree fd) the
    child attaches at its /tmp with move_mount(2). Blocking."""
    import ctypes

    disk = disks.disk(size_mb)
    try:
        found = os.stat(f"/proc/{owner}")
        disk.prepare_for(found.st_uid, found.st_gid)
        libc = ctypes.CDLL(None, use_errno=True)
        flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE
        fd = libc.syscall(SYS_OPEN_TREE, AT_FDCWD, str(disk.path).encode(), flags)
        if fd < 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"open_tree {disk.path}: {os.strerror(errno)}")
    except BaseException:
        disk.remove()
        raise
    return disk, int(fd)


async def prefork(
    control: socket.socket,
    template_pid: int,
    spec: SandboxSpec,
    *,
    listen: str,
    cgroups: SpareCgroups,
    host_cpus: int,
    forwards: bool,
    seccomp: bool,
    disks: SpareDisks | None = None,
) -> Forked:
    """Fork a child from the template behind `control` and make it safe to release (see
    the module docstring): `spec` gives its limits, /tmp size, cwd and forwards (its
    argv and mounts are the template's); its init serves the Runtime API at `listen`.
    With `disks`, its /tmp is a disk of its own made there, as a usual sandbox's is
    (else a tmpfs, whose pages count towards the function's memory).
    Raises SandboxError; nothing is left behind then."""
    ends, theirs = HostEnds.make()
    host_end = ends.init
    host_end.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    ports = [f.port for f in spec.forwards] if forwards else []
    command = json.dumps(
        {"tmp_mb": spec.ephemeral_storage_mb, "forwards": ports, "listen": listen, "cwd": spec.cwd}
    ).encode()

    def start() -> Forked:
        disk, tree = None, -1
        try:
            if disks is not None:
                disk, tree = disk_tree(disks, spec.ephemeral_storage_mb, template_pid)
            fds = [theirs[0].fileno(), theirs[1].fileno(), theirs[2]]
            socket.send_fds(control, [command], fds + ([tree] if tree >= 0 else []))
        except BaseException:
            if disk is not None:
                disk.remove()
            raise
        finally:
            _close_child_ends(theirs)
            if tree >= 0:
                os.close(tree)
        try:
            return checked(disk)
        except BaseException:
            if disk is not None:
                disk.remove()
            raise

    def checked(disk: TmpDisk | None) -> Forked:
        host_end.settimeout(FORK_TIMEOUT_S)
        # "A" from the template's child as soon as it is forked: it waits for "M" (moved
        # into its cgroup) before it writes anything more or forks the environment's pid
        # 1, so what they write (copies of the template's pages, page tables) is charged
        # to that cgroup, not to the template's for the environment's life (~1 MB each:
        # the template's headroom would run out past ~2,000).
        first, _none = _receive_report(host_end, 0, b"A")
        if parent_of(first) != template_pid:
            raise SandboxError(f"sandbox {spec.sandbox_id}: {first} is no child of the template")
        made = cgroups.take()
        socks: list[socket.socket] = []
        found = 0
        try:
            cpus = spec.cpus if spec.init_cpus is None else spec.init_cpus  # Init's, if any
            made.apply(compute_limits(spec.memory_mb, cpus, spec.pids_max, host_cpus))
            made.add_pid(first)
            host_end.sendall(b"M")
            # "P" as soon as the environment's pid 1 is born (in the cgroup).
            found, _none = _receive_report(host_end, 0, b"P")
            if not born(found):
                raise SandboxError(f"sandbox {spec.sandbox_id}: restored child {found} refused")
            made.add_pid(found)  # born in it already (its parent was): never outside
            ready, socks = _receive_report(host_end, len(ports), b"R")
            why = "it changed pid" if ready != found else None
            why = why or check_child(found, template_pid, seccomp)
            if why is not None:
                raise SandboxError(f"sandbox {spec.sandbox_id}: restored child refused: {why}")
        except BaseException:
            _discard(made, found or first)
            for sock in socks:
                sock.close()
            raise
        host_end.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 0)
        return Forked(found, made, ends, socks, spec, disk)

    try:
        return await run_blocking(start)
    except BaseException as exc:
        ends.close()
        if isinstance(exc, OSError):
            raise SandboxError(f"sandbox {spec.sandbox_id}: cannot restore: {exc}") from exc
        raise


async def release(
    forked: Forked, spec: SandboxSpec, forwarder: PortForwarder | None
) -> tuple[RestoredSandbox, HostEnds]:
    """Make `forked` the environment `spec` names (its id, variables and work dir; the
    rest must be what it was forked with): (its sandbox, the host's ends of its
    channels). Raises SandboxError; `forked` is discarded then."""
    try:
        sandbox = RestoredSandbox(spec, forked.pid, forked.cgroup, forked.disk)
        forked.disk = None  # the sandbox's now: removed at its end
        if forwarder is not None and forked.listeners:
            sandbox.forwards = forwarder.open(
                spec.sandbox_id, zip(forked.listeners, spec.forwards, strict=True)
            )
        forked.listeners = []
        body = json.dumps(dict(spec.env)).encode()
        channel = forked.ends.init
        channel.settimeout(FORK_TIMEOUT_S)
        await run_blocking(lambda: channel.sendall(b"G" + len(body).to_bytes(4, "big") + body))
        channel.settimeout(None)
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            await run_blocking(forked.discard)
        if isinstance(exc, Exception) and not isinstance(exc, SandboxError):
            raise SandboxError(f"sandbox {spec.sandbox_id}: cannot restore: {exc}") from exc
        raise
    return sandbox, forked.ends


def _discard(cgroup: Cgroup | None, pid: int) -> None:
    if pid:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    if cgroup is not None:
        cgroup.kill_all()
        cgroup.remove()


class RestoredSandbox(Freezing):
    """An environment forked from a template (see the module docstring); `Sandbox`'s
    contract, with a cgroup of its own. Its init is not our child: it ends when its
    pidfd says so, and how is told by init's own "exited" frame."""

    backend_name = "bwrap"

    def __init__(
        self, spec: SandboxSpec, pid: int, cgroup: Cgroup, disk: TmpDisk | None = None
    ) -> None:
        self.spec = spec
        self._pid = pid
        self._cgroup = cgroup
        self._disk = disk
        self._pidfd: int | None = os.pidfd_open(pid)
        self._destroyed = False
        self._oom_at_destroy = False
        self.forwards: ForwardHandle | None = None

    @property
    def pid(self) -> int:
        return self._pid

    def _ended(self) -> bool:
        if self._pidfd is None:
            return True
        # A pidfd is readable once its process has ended (ours or not).
        # poll, not select: a server with ~200 environments has fds past FD_SETSIZE.
        poller = select.poll()
        poller.register(self._pidfd, select.POLLIN)
        return bool(poller.poll(0))

    async def wait(self) -> ExitStatus:
        if self._pidfd is not None:
            try:
                await anyio.wait_readable(self._pidfd)
            except (anyio.ClosedResourceError, OSError):
                pass
        return ExitStatus(returncode=None, signal=9, oom_killed=self.oom_killed())

    def exit_status(self) -> ExitStatus | None:
        if not self._destroyed and not self._ended():
            return None
        return ExitStatus(returncode=None, signal=9, oom_killed=self.oom_killed())

    def memory_peak_mb(self) -> int:
        if self._destroyed:
            return 0
        return math.ceil(self._cgroup.memory_peak_bytes() / MB)

    def reset_memory_peak(self) -> None:
        if not self._destroyed:
            self._cgroup.reset_memory_peak()

    async def end_init(self) -> None:
        """Its steady CPU share, after an Init on `spec.init_cpus` (a child that runs Init
        itself: `pool/preinit.py`); a restore's limits are the steady ones from the start."""
        spec, cg = self.spec, self._cgroup
        if spec.init_cpus is None or self._destroyed:
            return
        limits = compute_limits(spec.memory_mb, spec.cpus, spec.pids_max, os.cpu_count() or 1)
        await run_blocking(lambda: cg.apply_cpu(limits))

    def cpu_throttles(self) -> int:
        return 0 if self._destroyed else self._cgroup.cpu_throttles()

    def oom_killed(self) -> bool:
        try:
            return self._cgroup.oom_kills() > 0
        except OSError:
            return self._oom_at_destroy

    def _freezer(self) -> Cgroup | None:
        return None if self._destroyed else self._cgroup

    async def destroy(self, reason: str) -> None:
        if self._destroyed:
            return
        self._destroyed = True
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

    def _teardown(self) -> None:
        cg = self._cgroup
        try:
            self._oom_at_destroy = cg.oom_kills() > 0
        except OSError:
            self._oom_at_destroy = False
        cg.kill_all()
        cg.remove()
        if self._disk is not None:
            self._disk.remove()
        shutil.rmtree(self.spec.work_dir, ignore_errors=True)
