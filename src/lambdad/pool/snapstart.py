"""SnapStart: each SnapStart version's template, and its environments restored from it.

AWS initialises a version with `SnapStart: {ApplyOn: PublishedVersions}` once,
at PublishVersion, and starts its environments from a snapshot of it. Here the
"snapshot" is a template: a sandbox whose runtime ran Init and the
before-snapshot hooks and now forks environments on command (a restore, see
`sandbox/restore.py` and the runtime's `python/restore.py`). Each restored
environment is a complete one of its own (namespaces, /tmp, cgroup with the
function's limits, its own request ids and randomness) that runs the
after-restore hooks and reports `Restore Duration` instead of Init Duration.

Each template keeps one child forked ahead (a "spare": checked, in its cgroup
with the function's limits, waiting for its variables), made in the background
after the template and after each restore: a cold start then only hands it its
variables (its log stream, credentials) and waits for the after-restore hooks.
Moving a process into a cgroup alone costs ~10 ms on a cgroup v1 host.

Lifecycle of a template:
- made by `prepare` when the version is published (the version is Pending
  meanwhile, Failed with the Init error if Init fails), or lazily by the first
  restore after a server restart: a template lives in memory only, and
  starting every SnapStart version's Init at startup would cost the CPU and
  memory of versions that may never be invoked again;
- killed with its version or function (`retire`), on server stop (`close`), when
  it has been unused for `idle_s` with no environment of its own left (`reap`),
  or when it dies (its next restore finds it gone and makes a new one);
- refused when what Init left cannot be forked safely (a thread, another
  process: `sandbox/restore.check_template`): the version stays Active, its
  environments run Init and its OptimizationStatus is "Off";
- at most `max_templates` live; past that the least recently used one without
  live environments is killed (its environments die with it: they live in a pid
  namespace below its own), and when none can be, the version's environments
  start the on-demand way (Init) with a warning.

Where the backend cannot restore (no unprivileged user namespaces, no cgroups,
the process backend), network modes other than "none", or a runtime other than
Python: every environment runs Init, the server log says why once per version,
and the version's OptimizationStatus is "Off" (`enabled`).
"""

from __future__ import annotations

import logging
import socket
import time
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, cast

import anyio

from lambdad.catalog import SNAPSTART_ON, SnapStartFailed, Version
from lambdad.concurrency import run_sync
from lambdad.pool.environment import ExecutionEnvironment
from lambdad.runtimes import EnvironmentSpec, OutputSink
from lambdad.runtimes.launch import RUNTIME_API_PORT, restore_report_line, restore_start_line
from lambdad.sandbox import FORK_TIMEOUT_S, Forked, HostEnds, Sandbox, SandboxError, SandboxSpec
from lambdad.sandbox.base import LateMounts

log = logging.getLogger(__name__)

RUNTIME_API = f"127.0.0.1:{RUNTIME_API_PORT}"
"""Where a restored environment's init serves the Runtime API (its own network)."""
TEMPLATE_HEADROOM_MB = 2048
"""Memory a kept template may hold beyond its function's size: its live children's
writes from before they moved into their own cgroups (about 1 MB each)."""
TEMPLATE_IDLE_S = 1800.0
"""A template unused this long, with no environment of its own alive, is reaped."""

Spawn = Callable[[Callable[[], Awaitable[None]]], None]
"""Starts a coroutine function in the background (the server's task group)."""

StartTemplate = Callable[[Version, socket.socket], Awaitable[ExecutionEnvironment]]
"""(version, the sandbox's end of its fork channel) -> the template, its Init run."""


class RestoringBackend(Protocol):
    """What a sandbox backend offers for restores (`BwrapBackend`'s)."""

    @property
    def restores(self) -> bool: ...

    def check_template(self, sandbox: Sandbox) -> str | None: ...

    def template_runtime(self, sandbox: Sandbox) -> int | None: ...

    async def prefork(
        self, control: socket.socket, template_runtime: int, spec: SandboxSpec, listen: str
    ) -> Forked: ...

    async def release(self, forked: Forked, spec: SandboxSpec) -> tuple[Sandbox, HostEnds]: ...


class NoRoomForTemplate(SnapStartFailed):
    """`max_templates` live, each with environments: the version waits for a later one."""


class TemplateRefused(SnapStartFailed):
    """Init ran, but what it left cannot be forked safely (a thread, another process):
    the version's environments run Init instead (its OptimizationStatus Off)."""


@dataclass(eq=False)
class Template:
    key: tuple[str, str]
    environment: ExecutionEnvironment
    control: socket.socket
    runtime_pid: int
    last_used: float
    children: weakref.WeakSet[ExecutionEnvironment] = field(default_factory=weakref.WeakSet)
    spare: Forked | None = None
    """A child forked ahead, waiting for the next cold start (`Templates._prefork`)."""
    preforking: bool = False
    dead: bool = False
    forking: anyio.Lock = field(default_factory=anyio.Lock)
    """One fork at a time: the template forks its children one after another anyway, and a
    burst of cold starts must not spend each one's fork timeout waiting behind the others."""

    def live_children(self) -> int:
        return sum(1 for env in self.children if env.is_alive())

    def take_spare(self) -> Forked | None:
        spare, self.spare = self.spare, None
        return spare if spare is not None and spare.alive() else None

    async def kill(self, reason: str) -> None:
        self.dead = True
        self.control.close()
        spare, self.spare = self.spare, None
        if spare is not None:
            await run_sync(spare.discard)
        await self.environment.destroy(reason)


def snapstart_applies(version: Version) -> bool:
    """Whether AWS would restore `version`'s environments: SnapStart on, published."""
    return version.config.snap_start == SNAPSTART_ON and version.version != "$LATEST"


class Templates:
    def __init__(
        self,
        backend: object,
        start_template: StartTemplate,
        *,
        max_templates: int = 16,
        idle_s: float = TEMPLATE_IDLE_S,
        clock: Callable[[], float] = time.monotonic,
        network_of: Callable[[Version], str] = lambda _version: "none",
        spawn: Spawn | None = None,
    ) -> None:
        """`network_of`: a version's network mode (only "none" is restored); `spawn`
        starts background work (forking each template's next environment ahead of its
        cold start); None: every restore forks at its cold start."""
        self._network_of = network_of
        self._spawn = spawn
        self._backend = cast(RestoringBackend, backend) if _can_restore(backend) else None
        self._start_template = start_template
        self.max_templates = max_templates
        self.idle_s = idle_s
        self._clock = clock
        self._templates: dict[tuple[str, str], Template] = {}
        self._locks: dict[tuple[str, str], anyio.Lock] = {}
        self._warned: set[tuple[str, str]] = set()
        self._refused: set[tuple[str, str]] = set()
        if self._backend is None:
            log.warning(
                "snapstart: this host cannot restore environments from a template (it needs "
                "bwrap as an unprivileged user and cgroups): SnapStart versions run Init in "
                "every environment and show OptimizationStatus Off"
            )

    @property
    def enabled(self) -> bool:
        """Whether SnapStart versions are restored here (their OptimizationStatus On)."""
        return self._backend is not None

    def serves(self, version: Version, spec: EnvironmentSpec | None = None) -> bool:
        """Whether `version`'s environments are restored (else, Init as on demand)."""
        if self._backend is None or not snapstart_applies(version):
            return False
        if (version.function_arn, version.version) in self._refused:
            return False
        if not version.config.runtime.startswith("python") or version.image_digest is not None:
            return False
        network = self._network_of(version) if spec is None else spec.network
        return network == "none"

    # ---- templates ---------------------------------------------------------------

    async def prepare(self, version: Version) -> None:
        """Make `version`'s template now (PublishVersion). Raises SnapStartFailed (when
        there is no room for it now, it is made at its first restore instead)."""
        if self.serves(version):
            try:
                await self._template(version)
            except NoRoomForTemplate as exc:
                self._warn_once(version, f"{exc}; its template is made at its first start")
            except TemplateRefused as exc:
                self._refused.add((version.function_arn, version.version))
                self._warn_once(version, str(exc))

    async def _template(self, version: Version) -> Template:
        key = (version.function_arn, version.version)
        lock = self._locks.setdefault(key, anyio.Lock())
        async with lock:
            found = self._templates.get(key)
            if found is not None and found.environment.is_alive():
                return found
            if found is not None:
                del self._templates[key]
                await found.kill("template died")
            await self._make_room()
            template = await self._start(version, key)
            self._templates[key] = template
            return template

    async def _start(self, version: Version, key: tuple[str, str]) -> Template:
        backend = self._backend
        assert backend is not None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.settimeout(FORK_TIMEOUT_S)  # a template that stops reading blocks no thread
        try:
            environment = await self._start_template(version, theirs)
        except Exception as exc:  # the platform's fault (no sandbox): on demand then
            ours.close()
            log.exception("snapstart: %s:%s: no template", version.function_name, version.version)
            raise TemplateRefused(f"no template could be started: {exc}") from exc
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        error = environment.init_error
        if error is not None:
            ours.close()
            await environment.destroy("template Init failed")
            raise SnapStartFailed(_init_failure(error.payload))
        sandbox = environment.sandbox
        why = runtime = None
        if sandbox is not None:
            why = await run_sync(backend.check_template, sandbox)
            runtime = await run_sync(backend.template_runtime, sandbox)
        if sandbox is None or why is not None or runtime is None:
            ours.close()
            await environment.destroy("template refused")
            raise TemplateRefused(f"no snapshot of this version: {why or 'its runtime is gone'}")
        # Only forks run in a kept template, but what each child writes before it is
        # moved into its own cgroup (copies of shared pages, page tables) is charged to
        # the template's, and its fork work to the template's CPU quota. Under the
        # function's limits (128 MB, 7% of a core) a burst of ~60 cold starts OOM-killed
        # the template, and with it every environment forked from it.
        if isinstance(sandbox, LateMounts):  # a bwrap sandbox, as every template's is
            await sandbox.resize(environment.spec.memory_mb + TEMPLATE_HEADROOM_MB, 1.0)
        log.info("snapstart: template of %s:%s ready", version.function_name, version.version)
        template = Template(key, environment, ours, runtime, self._clock())
        self._prefork_later(template)
        return template

    async def _make_room(self) -> None:
        """Keep the templates under `max_templates` (see the module docstring)."""
        while len(self._templates) >= self.max_templates:
            idle = [t for t in self._templates.values() if t.live_children() == 0]
            if not idle:
                raise NoRoomForTemplate(f"more than {self.max_templates} SnapStart templates")
            oldest = min(idle, key=lambda t: t.last_used)
            del self._templates[oldest.key]
            await oldest.kill("too many templates")

    # ---- restores ------------------------------------------------------------------

    async def restore(
        self, version: Version, spec: EnvironmentSpec, output: OutputSink | None
    ) -> ExecutionEnvironment | None:
        """An environment of `version` restored from its template (made first when it is
        missing); None: start it the on-demand way (the server log says why)."""
        backend = self._backend
        if backend is None:
            return None
        try:
            template = await self._template(version)
        except SnapStartFailed as exc:
            if isinstance(exc, TemplateRefused):
                self._refused.add((version.function_arn, version.version))
            self._warn_once(version, str(exc))
            return None
        template.last_used = self._clock()
        child = self._child_spec(template, spec)
        started = time.monotonic()
        try:
            forked = template.take_spare()
            if forked is None:
                async with template.forking:
                    forked = await backend.prefork(
                        template.control, template.runtime_pid, child, RUNTIME_API
                    )
            sandbox, ends = await backend.release(forked, child)
            released = time.monotonic()  # its runtime runs: what AWS bills of a restore
        except (SandboxError, OSError) as exc:
            log.warning("snapstart: %s:%s: restore failed (%s)", version.function_name,
                        version.version, exc)  # fmt: skip
            # One failed child is no reason to end the template and, with it, every
            # environment it forked that is running now; a dead template is made anew.
            if not template.environment.is_alive():
                await self._drop(template, "template died")
            return None
        self._prefork_later(template)
        environment = await ExecutionEnvironment.restored(
            spec,
            sandbox,
            ends,
            output=output,
            started=started,
            released=released,
            start_line=restore_start_line(spec),
            report_line=lambda ms: restore_report_line(spec, ms),
        )
        template.children.add(environment)
        return environment

    @staticmethod
    def _child_spec(template: Template, spec: EnvironmentSpec | None = None) -> SandboxSpec:
        """What a child of `template` is forked with: the template's environment's limits,
        /tmp and forwards; `spec`'s id, variables and work dir (None: a spare's, whose
        come when it is taken)."""
        own = template.environment.spec
        sandbox = template.environment.sandbox
        variables = dict(sandbox.spec.env) if sandbox is not None else {}
        if spec is not None:
            variables.update(spec.environment)
        return SandboxSpec(
            sandbox_id=own.env_id if spec is None else spec.env_id,
            argv=(),
            env=variables,
            mounts=(),
            memory_mb=own.memory_mb,
            ephemeral_storage_mb=own.ephemeral_storage_mb,
            work_dir=own.work_dir if spec is None else spec.work_dir,
            network=own.network,
            forwards=own.forwards,
        )

    def _prefork_later(self, template: Template) -> None:
        """Fork `template`'s next environment in the background (once at a time)."""
        if self._spawn is None or template.preforking or template.spare is not None:
            return
        backend = self._backend
        assert backend is not None
        template.preforking = True

        async def prefork() -> None:
            try:
                child = self._child_spec(template)
                async with template.forking:
                    forked = await backend.prefork(
                        template.control, template.runtime_pid, child, RUNTIME_API
                    )
            except (SandboxError, OSError) as exc:
                log.warning("snapstart: template %s: no spare environment (%s)",
                            template.environment.spec.env_id, exc)  # fmt: skip
                return
            finally:
                template.preforking = False
            if template.dead:
                await run_sync(forked.discard)
            else:
                template.spare = forked

        self._spawn(prefork)

    async def _drop(self, template: Template, reason: str) -> None:
        if self._templates.get(template.key) is template:
            del self._templates[template.key]
        await template.kill(reason)

    def _warn_once(self, version: Version, why: str) -> None:
        key = (version.function_arn, version.version)
        if key not in self._warned:
            self._warned.add(key)
            log.warning(
                "snapstart: %s:%s runs Init in every environment: %s",
                version.function_name, version.version, why,
            )  # fmt: skip

    # ---- ends ---------------------------------------------------------------------

    async def retire(self, function_arn: str, version: str | None = None) -> None:
        """The version (None: every version of the function) changed or is gone."""

        def gone(key: tuple[str, str]) -> bool:
            return key[0] == function_arn and (version is None or key[1] == version)

        self._refused = {key for key in self._refused if not gone(key)}
        self._warned = {key for key in self._warned if not gone(key)}
        for key, template in list(self._templates.items()):
            if gone(key):
                await self._drop(template, "version deleted")

    async def reap(self) -> int:
        """Kill the templates unused for `idle_s` with no environment left."""
        now = self._clock()
        stale = [
            t
            for t in self._templates.values()
            if now - t.last_used >= self.idle_s and t.live_children() == 0
        ]
        for template in stale:
            await self._drop(template, "idle")
        return len(stale)

    async def run(self, interval_s: float = 60.0) -> None:
        while True:
            await anyio.sleep(interval_s)
            await self.reap()

    async def close(self) -> None:
        for template in list(self._templates.values()):
            await self._drop(template, "server stopping")

    def count(self) -> int:
        return len(self._templates)


def _can_restore(backend: object) -> bool:
    return bool(getattr(backend, "restores", False))


def _init_failure(payload: bytes) -> str:
    """The version's StateReason for a failed Init: its error, as AWS words it."""
    import json

    try:
        error = json.loads(payload)
        kind, message = error.get("errorType", ""), error.get("errorMessage", "")
    except (ValueError, AttributeError):
        kind, message = "Runtime.Unknown", ""
    return f"Init failed during SnapStart optimization: {kind}: {message}".strip(": ")
