"""The bubblewrap backend, the pool of ready slots it starts from, and `select_backend`.

start(spec) on the request path: take a ready slot (cgroup + launcher already
in it + /tmp disk already mounted), write the spec's limits, build the bwrap
argv and tell the launcher to exec it. Making a replacement slot happens on
the spawn thread in the background.
"""

from __future__ import annotations

import collections
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import weakref
from collections.abc import Awaitable, Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Literal

import anyio
import anyio.lowlevel

from lambdad.sandbox.base import Sandbox, SandboxBackend, SandboxError, SandboxSpec
from lambdad.sandbox.blocking import run_blocking, wait_future
from lambdad.sandbox.bwrap import (
    BwrapOptions,
    build_bwrap_argv,
    late_points,
    plan_staging,
    probe_host,
    write_etc,
)
from lambdad.sandbox.cgroup import CgroupLayout, compute_limits, detect_layout
from lambdad.sandbox.egress import Egress, EgressPolicy, egress_tools, host_addresses, resolv_conf
from lambdad.sandbox.forwarding import PortForwarder
from lambdad.sandbox.host_ids import TRIAL_ID, HostIds
from lambdad.sandbox.late_mounts import Mounter
from lambdad.sandbox.launcher import SpawnThread
from lambdad.sandbox.reclaim import default_cgroup_parent, remove_parent
from lambdad.sandbox.restore import (
    Forked,
    HostEnds,
    RestoredSandbox,
    SpareCgroups,
    SpareDisks,
    check_template,
    prefork,
    private_mb,
    release,
    runtime_of,
)
from lambdad.sandbox.running import RunningSandbox, Slot, SlotMaker, fd_map, prepare_work_dir
from lambdad.sandbox.seccomp import deny_filter
from lambdad.sandbox.supervisor import ReclaimPlan, Supervisor
from lambdad.sandbox.tmpdisk import TmpDiskFactory

log = logging.getLogger(__name__)


def usable_cgroup_layout() -> CgroupLayout | None:
    """The host's cgroup layout if we may create groups in it (root), else None."""
    layout = detect_layout()
    if layout is None or os.geteuid() != 0:
        log.warning("sandbox: no usable cgroups; memory, CPU and pids limits are NOT enforced")
        return None
    return layout


LAUNCH_WAIT_S = 60.0
"""How long a closing pool waits for launches under way (each a few hundred ms)."""


class SlotPool:
    """Keeps `spares` ready slots; hands one out per start and refills in the background.

    It owns the backend's state dir and cgroup parent while it lives: at start it
    reclaims what a previous server left there, and its supervisor reclaims what
    this one leaves if it dies (`supervisor.py`). `keep_fds` stay held until then.
    """

    def __init__(self, maker: SlotMaker, spares: int, keep_fds: Sequence[int] = ()) -> None:
        self.maker = maker
        self.spares = spares
        self.supervisor = Supervisor.start(
            ReclaimPlan(maker.disks.state_dir, maker.layout, maker.cgroup_parent), keep_fds
        )
        self._ready: collections.deque[Slot] = collections.deque()
        self._thread = SpawnThread()
        self._closed = False
        # Sandboxes started from this pool; close() destroys any still alive.
        self._live: weakref.WeakSet[RunningSandbox | RestoredSandbox] = weakref.WeakSet()
        # Launches under way (their blocking part runs on even when their caller is
        # cancelled, e.g. a ready environment parked as the server stops): close()
        # waits for them, so nothing is made in the cgroup parent after it is removed.
        self._launching = 0
        self._launched = anyio.Event()
        if spares:
            self._thread.submit(self._refill)

    async def take(self) -> Slot:
        if self._closed:
            raise SandboxError("sandbox backend is closed")
        slot = None
        while self._ready:
            spare = self._ready.popleft()
            if spare.launcher.proc.poll() is None:
                slot = spare
                break
            # A parked launcher can die (killed from outside, OOM on the host):
            # never hand out a dead one.
            log.warning("sandbox: spare launcher %d died; discarding it", spare.launcher.pid)
            await run_blocking(spare.discard)
        if slot is None:
            slot = await wait_future(self._thread.submit(self.maker.make))
        if self.spares:
            self._thread.submit(self._refill)
        return slot

    def _refill(self) -> None:
        try:
            while not self._closed and len(self._ready) < self.spares:
                self._ready.append(self.maker.make())
        except Exception:
            log.exception("sandbox: cannot make a spare slot")

    async def launch(
        self,
        spec: SandboxSpec,
        exec_in_slot: Callable[[SandboxSpec, Slot], None],
        backend_name: str,
        *,
        signal_exit_codes: bool,
        host_cpus: int,
    ) -> RunningSandbox:
        """Take a slot and exec the sandbox in it; on failure nothing is left behind,
        nor when the pool closed meanwhile (SandboxError)."""

        async def start() -> RunningSandbox:
            slot = await self.take()
            supervisor = self.supervisor
            # Without a cgroup, the launcher's session (its pid) is all there is to kill.
            supervisor.track(spec.work_dir, slot.launcher.pid if slot.cgroup is None else None)
            slot.released.append(lambda: supervisor.untrack(spec.work_dir))

            def prepare_and_exec() -> None:
                prepare_work_dir(spec.work_dir)
                if slot.cgroup is not None:
                    # Limits are in force before the sandbox's first instruction.
                    cpus = spec.init_cpus if spec.init_cpus is not None else spec.cpus
                    slot.cgroup.apply(
                        compute_limits(spec.memory_mb, cpus, spec.pids_max, host_cpus)
                    )
                exec_in_slot(spec, slot)

            try:
                await run_blocking(prepare_and_exec)
            except BaseException as e:
                await run_blocking(slot.discard)
                shutil.rmtree(spec.work_dir, ignore_errors=True)
                if isinstance(e, SandboxError):
                    raise
                raise SandboxError(f"sandbox {spec.sandbox_id}: cannot start: {e}") from e
            sandbox = RunningSandbox(
                spec, backend_name, slot, signal_exit_codes=signal_exit_codes, host_cpus=host_cpus
            )
            self._live.add(sandbox)
            return sandbox

        return await self._whole(start)

    async def _whole(self, launch: Callable[[], Awaitable[RunningSandbox]]) -> RunningSandbox:
        """`launch`, whole or not at all: a caller cancelled half-way (its blocking parts
        run on in their threads) would drop a slot or a sandbox nobody ends, and one
        that ends after `close` began would be made in a cgroup parent being removed."""
        self._launching += 1
        try:
            with anyio.CancelScope(shield=True):
                sandbox = await launch()
                if self._closed:
                    await sandbox.destroy("backend closed")
                    raise SandboxError("sandbox backend is closed")
            try:
                await anyio.lowlevel.checkpoint()
            except anyio.get_cancelled_exc_class():
                with anyio.CancelScope(shield=True):
                    await sandbox.destroy("start cancelled")
                raise
            return sandbox
        finally:
            self._launching -= 1
            if not self._launching:
                self._launched.set()

    def adopt(self, sandbox: RestoredSandbox) -> None:
        """A sandbox not started from a slot (forked from a template): close() destroys
        it too."""
        self._live.add(sandbox)

    async def close(self) -> None:
        self._closed = True
        with anyio.move_on_after(LAUNCH_WAIT_S):
            while self._launching:
                self._launched = anyio.Event()
                await self._launched.wait()
        for sandbox in list(self._live):
            await sandbox.destroy("backend closed")
        await run_blocking(self._thread.shutdown)
        while self._ready:
            await run_blocking(self._ready.popleft().discard)
        maker = self.maker
        await run_blocking(maker.disks.close)
        await run_blocking(lambda: remove_parent(maker.layout, maker.cgroup_parent))
        await run_blocking(self.supervisor.close)


class BwrapBackend:
    """Sandboxes made with bubblewrap namespaces, cgroups and a loop-mounted /tmp.

    `state_dir` holds the synthesized /etc, the /tmp templates and disks (a
    private temp dir by default). `spares` slots are kept ready, each with a
    /tmp disk of `spare_tmp_mb` (the common size; other sizes are made at start).
    """

    name = "bwrap"

    def __init__(
        self,
        *,
        state_dir: Path | None = None,
        spares: int = 2,
        spare_tmp_mb: int = 512,
        cgroup_parent: str | None = None,
        bwrap: str | None = None,
        python: str | None = None,
        options: BwrapOptions | None = None,
        cgroups: CgroupLayout | None | Literal["auto"] = "auto",
        unprivileged: bool | None = None,
        forwarder: PortForwarder | None = None,
        egress: EgressPolicy | None = None,
    ) -> None:
        """`unprivileged`: run bwrap as an unprivileged host uid (None: where the host allows).
        `forwarder` relays the specs' `forwards` (it must be running while sandboxes are).
        `egress`: what sandboxes in network mode egress may reach besides the internet."""
        found = bwrap or shutil.which("bwrap")
        if found is None:
            raise SandboxError("bubblewrap (bwrap) is not installed")
        self._bwrap = found
        if unprivileged is None:
            unprivileged = unprivileged_bwrap_works(found)
            if not unprivileged:
                log.warning(
                    "sandbox: this host refuses user namespaces to unprivileged users; "
                    "sandboxes run as host uid 0 without capabilities"
                )
        self._unprivileged = unprivileged
        # Each sandbox runs as a host uid of its own (per-uid kernel limits stay its own).
        self._ids = HostIds.claim() if unprivileged else None
        # Staging needs root (a mount namespace of the launcher's own); as root, it is
        # done for a privileged bwrap too: read-only sources staged as overlays name no
        # host path in the sandbox's /proc/self/mountinfo.
        self._stages = os.geteuid() == 0
        # Forwards and egress need a network namespace the launcher makes as root.
        self.forwarder = forwarder if os.geteuid() == 0 else None
        if forwarder is not None and self.forwarder is None:
            log.warning("sandbox: not root; functions in network mode none reach no endpoint")
        self._egress_tools = egress_tools() if os.geteuid() == 0 else None
        if egress is not None and self._egress_tools is None:
            log.warning(
                "sandbox: network mode egress is unavailable here (it needs root, "
                "slirp4netns, nsenter and ip): environments that use it fail to start"
            )
        self._egress = EgressPolicy(
            allowed=egress.allowed if egress else (), host_addresses=host_addresses()
        )
        if self._stages:
            STAGE_ROOT.mkdir(mode=0o755, parents=True, exist_ok=True)
        self._cgroups: SpareCgroups | None = None
        self._forked_disks: SpareDisks | None = None
        """/tmp disks for children of on-demand templates (`restore.py`), from the first."""
        """Cgroups for restored environments (`restore.py`), from the first restore on."""
        # Late mounts are made on staged mount points (late_mounts.py): root only.
        self.late_mounts = self._stages
        python = python or os.path.realpath(sys.executable)
        self._mounter = Mounter(python)
        # Its own helper, so that trims never hold up an adopt's late mounts.
        self._trimmer = Mounter(python)
        self._trims = SpawnThread("lambdad-sandbox-trim")
        self.state_dir = state_dir or Path(tempfile.mkdtemp(prefix="lambdad-sandbox-"))
        self._options = options or BwrapOptions()
        self._layout = probe_host()
        self._etc: dict[tuple[int, int, bool], Path] = {}
        self._host_cpus = os.cpu_count() or 1
        self._seccomp = deny_filter()
        layout = usable_cgroup_layout() if cgroups == "auto" else cgroups
        cgroup_parent = cgroup_parent or default_cgroup_parent(self.state_dir)
        self._disks = TmpDiskFactory(self.state_dir)
        self._pool = SlotPool(
            SlotMaker(
                python=python,
                layout=layout,
                cgroup_parent=cgroup_parent,
                disks=self._disks,
                disk_mb=spare_tmp_mb if spares else None,
            ),
            spares,
            keep_fds=() if self._ids is None else (self._ids.lock_fd,),
        )

    @property
    def restores(self) -> bool:
        """Whether SnapStart templates can fork environments here (`restore.py`): only an
        unprivileged bwrap lets a template's child mount a fresh /proc, and each child
        needs a cgroup of its own."""
        return self._unprivileged and self._pool.maker.layout is not None and self._stages

    def check_template(self, sandbox: Sandbox) -> str | None:
        """Why a started template may not be kept (None: it may). Blocking."""
        cgroup = sandbox._slot.cgroup if isinstance(sandbox, RunningSandbox) else None
        if cgroup is None:
            return "no cgroup"
        return check_template(cgroup.pids())

    def template_runtime(self, sandbox: Sandbox) -> int | None:
        """The host pid of a template's runtime (None: there is none). Blocking."""
        cgroup = sandbox._slot.cgroup if isinstance(sandbox, RunningSandbox) else None
        return None if cgroup is None else runtime_of(cgroup.pids())

    def template_memory_mb(self, sandbox: Sandbox) -> float:
        """The private memory (USS) of a template's processes, MB. Blocking."""
        cgroup = sandbox._slot.cgroup if isinstance(sandbox, RunningSandbox) else None
        return 0.0 if cgroup is None else private_mb(cgroup.pids())

    async def prefork(
        self,
        control: socket.socket,
        template_runtime: int,
        spec: SandboxSpec,
        listen: str,
        disk: bool = False,
    ) -> Forked:
        """A child of the template whose fork channel is `control`, checked, in a cgroup
        with `spec`'s limits and waiting for `release` (see `restore.prefork`); `disk`:
        its /tmp is a disk of its own, as a usual sandbox's (else a tmpfs)."""
        layout = self._pool.maker.layout
        if not self.restores or layout is None:
            raise SandboxError("this host cannot restore SnapStart environments")
        if self._cgroups is None:
            self._cgroups = SpareCgroups(layout, self._pool.maker.cgroup_parent)
        return await prefork(
            control,
            template_runtime,
            spec,
            listen=listen,
            cgroups=self._cgroups,
            host_cpus=self._host_cpus,
            forwards=self.forwarder is not None,
            seccomp=self._seccomp is not None,
            disks=self._spare_disks() if disk and self._disks.mode != "directory" else None,
        )

    def _spare_disks(self) -> SpareDisks:
        if self._forked_disks is None:
            self._forked_disks = SpareDisks(self._disks)
        return self._forked_disks

    async def release(self, forked: Forked, spec: SandboxSpec) -> tuple[Sandbox, HostEnds]:
        """`forked` becomes the environment `spec` names: its sandbox and the host's ends
        of its channels (see `restore.release`)."""
        await run_blocking(lambda: prepare_work_dir(spec.work_dir))
        sandbox, channel = await release(forked, spec, self.forwarder)
        self._pool.adopt(sandbox)
        return sandbox, channel

    async def start(self, spec: SandboxSpec) -> Sandbox:
        if spec.template and not self.restores:
            raise SandboxError("SnapStart templates need an unprivileged bwrap and cgroups")
        if spec.late_mounts and not self.late_mounts:
            raise SandboxError("late mounts need root (a staging namespace of the launcher's)")
        sandbox = await self._pool.launch(
            spec, self._exec, self.name, signal_exit_codes=True, host_cpus=self._host_cpus
        )
        if spec.late_mounts:
            points, mounter, pid = late_points(spec, STAGE_ROOT), self._mounter, sandbox.pid
            sandbox.attacher = lambda source, target: mounter.attach(pid, points[target], source)
        if self._stages and self._disks.mode != "directory":
            self._trim_later(sandbox.pid)
        listeners = sandbox.take_listeners()
        if listeners and self.forwarder is not None:
            try:
                sandbox.forwards = self.forwarder.open(
                    spec.sandbox_id, zip(listeners, spec.forwards, strict=True)
                )
            except BaseException:
                for sock in listeners:
                    sock.close()
                with anyio.CancelScope(shield=True):
                    await sandbox.destroy("cannot relay its forwards")
                raise
        return sandbox

    def _trim_later(self, pid: int) -> None:
        """Off the request path: drop every other sandbox's /tmp disk from the copy of
        the host's mounts that this sandbox's staging namespace was made with (its
        own is staged: see `TmpDiskFactory._own_mount`). Left there, N environments
        would hold N² mounts of kernel memory between them."""
        disks, trimmer = self._disks.disks_dir, self._trimmer

        def trim() -> None:
            try:
                trimmer.detach(pid, disks)
            except SandboxError as e:  # gone already, say: nothing is lost but memory
                log.debug("sandbox %d: staging namespace not trimmed (%s)", pid, e)

        self._trims.submit(trim)

    def _listen_ports(self, spec: SandboxSpec) -> list[int] | None:
        """The forwards' ports (None: bwrap makes the namespace, or shares the host's)."""
        if spec.network == "host":
            return None
        ports = [f.port for f in spec.forwards] if self.forwarder is not None else []
        return ports if ports or spec.network == "egress" else None

    def _egress_hold(self, spec: SandboxSpec, slot: Slot) -> Callable[[int], None] | None:
        """What connects an egress sandbox's namespace to the outside, before it runs."""
        if spec.network != "egress":
            return None
        tools = self._egress_tools
        if tools is None:
            raise SandboxError(
                "network mode egress needs root and slirp4netns, nsenter and ip (iproute2)"
            )
        policy = self._egress

        def connect(pid: int) -> None:
            egress = Egress.connect(pid, policy, tools)
            slot.released.append(egress.close)

        return connect

    def _exec(self, spec: SandboxSpec, slot: Slot) -> None:
        disk = self._pool.maker.disk_for(slot, spec.ephemeral_storage_mb)
        etc_dir = self._etc_dir(spec.uid, spec.gid, spec.network == "egress")
        staging = plan_staging(spec, etc_dir, disk.path, STAGE_ROOT) if self._stages else None
        if self._ids is not None:
            ids = self._ids
            uid = gid = ids.allocate()
            slot.released.append(lambda: ids.release(uid))
        else:
            uid, gid = os.geteuid(), os.getegid()  # bwrap maps the sandbox uid to ours
        disk.prepare_for(uid, gid)
        fds = fd_map(spec)
        filter_fd = seccomp_target = None
        if self._seccomp is not None:
            # bwrap reads the filter from this fd and closes it before the sandbox runs.
            filter_fd = os.memfd_create("seccomp", os.MFD_CLOEXEC)
            os.write(filter_fd, self._seccomp)
            os.lseek(filter_fd, 0, os.SEEK_SET)
            seccomp_target = max([2, *fds]) + 1  # clear of every fd the spec passes
            fds[seccomp_target] = filter_fd
        listen_ports = self._listen_ports(spec)
        hold = self._egress_hold(spec, slot)
        argv = build_bwrap_argv(
            spec,
            bwrap=self._bwrap,
            layout=self._layout,
            etc_dir=etc_dir,
            tmp_dir=disk.path,
            options=self._options,
            seccomp_fd=seccomp_target if filter_fd is not None else None,
            staged=None if staging is None else dict(staging.binds),
            own_netns=listen_ports is not None,
            late=late_points(spec, STAGE_ROOT),
        )
        try:
            if self._ids is None:  # bwrap runs as we do
                slot.listeners = slot.launcher.exec(
                    argv, {}, fds, args_fd=True, stage=staging, rlimits=spec.rlimits,
                    listen_ports=listen_ports, hold=hold,
                )  # fmt: skip
            else:
                slot.listeners = slot.launcher.exec(
                    argv, {}, fds, args_fd=True, uid=uid, gid=gid, stage=staging,
                    rlimits=spec.rlimits, listen_ports=listen_ports, hold=hold,
                )  # fmt: skip
        finally:
            if filter_fd is not None:
                os.close(filter_fd)
        if slot.cgroup is not None:
            slot.cgroup.reset_memory_peak()  # forget the launcher's own footprint

    def _etc_dir(self, uid: int, gid: int, egress: bool = False) -> Path:
        key = (uid, gid, egress)
        if key not in self._etc:
            name = f"etc-{uid}-{gid}" + ("-egress" if egress else "")
            self._etc[key] = write_etc(
                self.state_dir / name,
                uid,
                gid,
                self._options.hostname,
                resolv_conf=resolv_conf() if egress else None,
            )
        return self._etc[key]

    async def close(self) -> None:
        await run_blocking(self._trims.shutdown)
        for spares in (self._cgroups, self._forked_disks):
            if spares is not None:
                await run_blocking(spares.close)
        await self._pool.close()
        await run_blocking(self._mounter.close)
        await run_blocking(self._trimmer.close)
        if self._ids is not None:
            self._ids.close()
        await run_blocking(lambda: shutil.rmtree(self.state_dir, ignore_errors=True))


# Where a launcher stages private sources for an unprivileged bwrap (its own
# tmpfs there, in its own mount namespace; the host only ever sees the empty dir).
STAGE_ROOT = Path("/run/lambdad-stage") if Path("/run").is_dir() else Path("/tmp/lambdad-stage")


# A trial that is merely slow (a busy host creating and destroying many network
# namespaces) is not a host that refuses: falling back on it would quietly run
# functions with less isolation. For the same reason a failed trial is tried
# again before it counts: a host that refuses namespaces refuses every time.
TRIAL_TIMEOUT_S = 60
TRIAL_ATTEMPTS = 3


def _trial_passes(what: str, argv: list[str], **run_options: object) -> bool:
    """Whether `argv` succeeds in one of TRIAL_ATTEMPTS tries; says why it did not, loudly."""
    error = ""
    for _ in range(TRIAL_ATTEMPTS):
        try:
            subprocess.run(
                argv, check=True, capture_output=True, timeout=TRIAL_TIMEOUT_S, **run_options
            )  # type: ignore[call-overload]
            return True
        except subprocess.CalledProcessError as e:
            stderr = (e.stderr or b"").decode(errors="replace").strip()[-500:]
            error = f"exit {e.returncode}: {stderr or 'no message'}"
        except (OSError, subprocess.SubprocessError) as e:
            error = str(e)
    log.warning("sandbox: %s failed %d times: %s", what, TRIAL_ATTEMPTS, error)
    return False


@lru_cache(maxsize=4)
def unprivileged_bwrap_works(bwrap: str) -> bool:
    """Whether bwrap can build its namespaces as an unprivileged uid here (tried once)."""
    if os.geteuid() != 0:
        return False  # we are unprivileged already: nothing to drop to
    true = shutil.which("true") or "/bin/true"
    uid = gid = TRIAL_ID
    return _trial_passes(
        "unprivileged bwrap trial",
        [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--uid", "993",
         "--ro-bind", "/", "/", "--proc", "/proc", true],
        cwd="/", user=uid, group=gid, extra_groups=[],
    )  # fmt: skip


@lru_cache(maxsize=4)
def bwrap_works(bwrap: str) -> bool:
    """Whether this host lets bwrap create every namespace we use (tried once)."""
    true = shutil.which("true") or "/bin/true"
    return _trial_passes(
        "bwrap trial", [bwrap, "--unshare-all", "--die-with-parent", "--ro-bind", "/", "/", true]
    )


def select_backend(
    name: Literal["auto", "bwrap", "process"] = "auto",
    *,
    state_dir: Path | None = None,
    spares: int = 2,
    spare_tmp_mb: int = 512,
    cgroup_parent: str | None = None,
    forwarder: PortForwarder | None = None,
    egress: EgressPolicy | None = None,
) -> SandboxBackend:
    """The backend called `name`; "auto" is bwrap when it works here, else process."""
    from lambdad.sandbox.process import ProcessBackend

    if name == "auto":
        bwrap = shutil.which("bwrap")
        name = "bwrap" if bwrap is not None and bwrap_works(bwrap) else "process"
    if name == "bwrap":
        return BwrapBackend(
            state_dir=state_dir,
            spares=spares,
            spare_tmp_mb=spare_tmp_mb,
            cgroup_parent=cgroup_parent,
            forwarder=forwarder,
            egress=egress,
        )
    return ProcessBackend(state_dir=state_dir, spares=spares, cgroup_parent=cgroup_parent)
