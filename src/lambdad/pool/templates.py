"""Per-version templates, and the environments forked from them.

A template is a sandbox of one function version whose runtime waits for fork
commands from the host instead of events (`sandbox/restore.py` for the host's
half and its checks, `runtimes/bootstraps/python/restore.py` for the
template's). Each child is a complete environment of its own (namespaces,
/tmp, cgroup with the function's limits, its own request ids and randomness),
whose pages are the template's until it writes them. Two kinds use this:

- SnapStart (`pool/snapstart.py`): the template ran Init; children run the
  after-restore hooks and report Restore Duration.
- on-demand (`pool/preinit.py`): the template ran no Init (its runtime only
  started and imported its bootstrap); each child runs Init itself.

What both share lives here (`TemplateSet`): making a version's template (one
at a time per version), the host's checks on it, keeping one child forked
ahead of the next cold start (a "spare": checked, in its cgroup with the
function's limits, waiting for its variables), forking a child at a cold
start, and ending templates: with their version (`retire`), when idle with no
environment of their own left (`reap`), on server stop (`close`), when they die
(the next use finds them gone), or to make room (`max_templates`; past that,
the least recently used one without live environments goes: its environments
would die with it, as they live in a pid namespace below its own).
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

from lambdad.catalog import SnapStartFailed, Version
from lambdad.concurrency import run_sync
from lambdad.pool.environment import ExecutionEnvironment
from lambdad.runtimes import EnvironmentSpec, InvokeOutcome, OutputSink
from lambdad.runtimes.launch import RUNTIME_API_PORT
from lambdad.sandbox import FORK_TIMEOUT_S, Forked, HostEnds, Sandbox, SandboxError, SandboxSpec
from lambdad.sandbox.base import LateMounts

log = logging.getLogger(__name__)

RUNTIME_API = f"127.0.0.1:{RUNTIME_API_PORT}"
"""Where a forked environment's init serves the Runtime API (its own network)."""
TEMPLATE_HEADROOM_MB = 2048
"""Memory a kept template may hold beyond its function's size: its live children's
writes from before they moved into their own cgroups (about 1 MB each)."""
TEMPLATE_IDLE_S = 1800.0
"""A template unused this long, with no environment of its own alive, is reaped."""

Spawn = Callable[[Callable[[], Awaitable[None]]], None]
"""Starts a coroutine function in the background (the server's task group)."""

StartTemplate = Callable[[Version, socket.socket], Awaitable[ExecutionEnvironment]]
"""(version, the sandbox's end of its fork channel) -> the template, started."""


class RestoringBackend(Protocol):
    """What a sandbox backend offers for forks from a template (`BwrapBackend`'s)."""

    @property
    def restores(self) -> bool: ...

    def check_template(self, sandbox: Sandbox) -> str | None: ...

    def template_runtime(self, sandbox: Sandbox) -> int | None: ...

    def template_memory_mb(self, sandbox: Sandbox) -> float: ...

    async def prefork(
        self,
        control: socket.socket,
        template_runtime: int,
        spec: SandboxSpec,
        listen: str,
        disk: bool = False,
    ) -> Forked: ...

    async def release(self, forked: Forked, spec: SandboxSpec) -> tuple[Sandbox, HostEnds]: ...


class NoRoomForTemplate(SnapStartFailed):
    """`max_templates` live, each with environments: the version waits for a later one."""


class TemplateRefused(SnapStartFailed):
    """The template cannot be kept (what it left cannot be forked safely: a thread,
    another process; or it could not start): its version's environments start the
    usual way."""


@dataclass(eq=False)
class Template:
    key: tuple[str, ...]
    """Its version's (function ARN, version[, RevisionId]): `TemplateSet._key`."""
    environment: ExecutionEnvironment
    control: socket.socket
    runtime_pid: int
    last_used: float
    children: weakref.WeakSet[ExecutionEnvironment] = field(default_factory=weakref.WeakSet)
    spare: Forked | None = None
    """A child forked ahead, waiting for the next cold start (`TemplateSet._prefork_later`)."""
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


@dataclass
class Child:
    """A child forked from a template for a cold start: its sandbox, the host's ends of
    its channels, when the cold start asked for it and when the child got its variables
    (its runtime runs from then on: what AWS bills of a restore), time.monotonic()."""

    sandbox: Sandbox
    ends: HostEnds
    started: float
    released: float


class TemplateSet:
    """The templates of one kind (see the module docstring); `name` heads its log lines."""

    name = "templates"
    headroom_mb = TEMPLATE_HEADROOM_MB
    """A kept template's memory limit beyond its function's size (see `_start`)."""
    disk_tmp = False
    """Each child's /tmp a disk of its own, as a usual sandbox's (else a tmpfs: its pages
    count towards the function's memory)."""
    cannot_fork = ""
    """Logged (a warning) when the backend cannot fork environments from templates."""

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
        """`network_of`: a version's network mode (only "none" is forked); `spawn`
        starts background work (forking each template's next environment ahead of its
        cold start); None: every child is forked at its cold start."""
        self._network_of = network_of
        self._spawn = spawn
        self._backend = cast(RestoringBackend, backend) if _can_fork(backend) else None
        self._start_template = start_template
        self.max_templates = max_templates
        self.idle_s = idle_s
        self._clock = clock
        self._templates: dict[tuple[str, ...], Template] = {}
        self._locks: dict[tuple[str, ...], anyio.Lock] = {}
        self._warned: set[tuple[str, ...]] = set()
        self._refused: set[tuple[str, ...]] = set()
        if self._backend is None and self.cannot_fork:
            log.warning("%s", self.cannot_fork)

    @property
    def enabled(self) -> bool:
        """Whether this host forks environments from templates."""
        return self._backend is not None

    def _eligible(self, version: Version, spec: EnvironmentSpec | None) -> bool:
        """What both kinds need: a backend that forks, a built-in Python runtime of a zip
        function, network "none", a template not refused."""
        if self._backend is None or self._version_key(version) in self._refused:
            return False
        if not version.config.runtime.startswith("python") or version.image_digest is not None:
            return False
        network = self._network_of(version) if spec is None else spec.network
        return network == "none"

    def _version_key(self, version: Version) -> tuple[str, ...]:
        """(function ARN, version[, ...]): what a refusal or a warning is kept under."""
        return (version.function_arn, version.version)

    def _key(self, version: Version) -> tuple[str, ...]:
        """What `version`'s template is kept under (a published version never changes)."""
        return self._version_key(version)

    # ---- templates ---------------------------------------------------------------

    async def _template(self, version: Version) -> Template:
        key = self._key(version)
        lock = self._locks.setdefault(key, anyio.Lock())
        async with lock:
            found = self._templates.get(key)
            if found is not None and found.environment.is_alive():
                return found
            if found is not None:
                del self._templates[key]
                await found.kill("template died")
            await self._make_room(version)
            template = await self._start(version, key)
            self._templates[key] = template
            return template

    def _live(self, version: Version) -> Template | None:
        """`version`'s template when it is made and alive (no wait)."""
        found = self._templates.get(self._key(version))
        return found if found is not None and found.environment.is_alive() else None

    def _init_failed(self, error: InvokeOutcome) -> SnapStartFailed:
        """What a template whose start ended with `error` raises."""
        return TemplateRefused(f"its template did not start: {error.error_type}")

    async def _start(self, version: Version, key: tuple[str, ...]) -> Template:
        backend = self._backend
        assert backend is not None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.settimeout(FORK_TIMEOUT_S)  # a template that stops reading blocks no thread
        try:
            environment = await self._start_template(version, theirs)
        except Exception as exc:  # the platform's fault (no sandbox): the usual way then
            ours.close()
            log.exception("%s: %s:%s: no template", self.name, version.function_name,
                          version.version)  # fmt: skip
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
            raise self._init_failed(error)
        sandbox = environment.sandbox
        why = runtime = None
        if sandbox is not None:
            why = await run_sync(backend.check_template, sandbox)
            runtime = await run_sync(backend.template_runtime, sandbox)
        if sandbox is None or why is not None or runtime is None:
            ours.close()
            await environment.destroy("template refused")
            raise TemplateRefused(f"no template of this version: {why or 'its runtime is gone'}")
        # Only forks run in a kept template, but what each child writes before it is
        # moved into its own cgroup (copies of shared pages, page tables) is charged to
        # the template's, and its fork work to the template's CPU quota. Under the
        # function's limits (128 MB, 7% of a core) a burst of ~60 cold starts OOM-killed
        # the template, and with it every environment forked from it.
        if isinstance(sandbox, LateMounts):  # a bwrap sandbox, as every template's is
            await sandbox.resize(environment.spec.memory_mb + self.headroom_mb, 1.0)
        log.info("%s: template of %s:%s ready", self.name, version.function_name, version.version)
        template = Template(key, environment, ours, runtime, self._clock())
        self._prefork_later(template)
        return template

    async def _make_room(self, version: Version) -> None:
        """Keep the templates under `max_templates` (see the module docstring)."""
        while len(self._templates) >= self.max_templates:
            idle = [t for t in self._templates.values() if t.live_children() == 0]
            if not idle:
                raise NoRoomForTemplate(f"more than {self.max_templates} templates")
            oldest = min(idle, key=lambda t: t.last_used)
            del self._templates[oldest.key]
            await oldest.kill("too many templates")

    # ---- children ------------------------------------------------------------------

    async def _fork(
        self, version: Version, template: Template, spec: EnvironmentSpec
    ) -> Child | None:
        """A child of `template` made `spec`'s environment (its spare, or one forked
        now); None: it failed (logged; the cold start goes the usual way)."""
        backend = self._backend
        assert backend is not None
        template.last_used = self._clock()
        child = self._child_spec(template, spec)
        started = time.monotonic()
        try:
            forked = template.take_spare()
            if forked is None:
                async with template.forking:
                    forked = await self._prefork(template, child)
            sandbox, ends = await backend.release(forked, child)
            released = time.monotonic()
        except (SandboxError, OSError) as exc:
            log.warning("%s: %s:%s: fork failed (%s)", self.name, version.function_name,
                        version.version, exc)  # fmt: skip
            # One failed child is no reason to end the template and, with it, every
            # environment it forked that is running now; a dead template is made anew.
            if not template.environment.is_alive():
                await self._drop(template, "template died")
            return None
        self._prefork_later(template)
        return Child(sandbox, ends, started, released)

    async def _prefork(self, template: Template, child: SandboxSpec) -> Forked:
        backend = self._backend
        assert backend is not None
        control, pid = template.control, template.runtime_pid
        if self.disk_tmp:
            return await backend.prefork(control, pid, child, RUNTIME_API, disk=True)
        return await backend.prefork(control, pid, child, RUNTIME_API)

    async def _environment(
        self,
        template: Template,
        child: Child,
        spec: EnvironmentSpec,
        output: OutputSink | None,
        start_line: str,
        report_line: Callable[[float], str] | None = None,
        snapshot: bool = True,
    ) -> ExecutionEnvironment:
        """`child` made `spec`'s environment (`ExecutionEnvironment.restored`), counted
        as one of `template`'s."""
        environment = await ExecutionEnvironment.restored(
            spec,
            child.sandbox,
            child.ends,
            output=output,
            started=child.started,
            released=child.released,
            start_line=start_line,
            report_line=report_line,
            snapshot=snapshot,
        )
        template.children.add(environment)
        return environment

    def _child_spec(self, template: Template, spec: EnvironmentSpec | None = None) -> SandboxSpec:
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
            init_cpus=self._init_cpus(own.memory_mb),
        )

    def _init_cpus(self, memory_mb: int) -> float | None:
        """A child's CPU quota until its Init ends (None: its steady share from the start)."""
        return None

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
                    forked = await self._prefork(template, child)
            except (SandboxError, OSError) as exc:
                log.warning("%s: template %s: no spare environment (%s)", self.name,
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
        key = self._version_key(version)
        if key not in self._warned:
            self._warned.add(key)
            log.warning(
                "%s: %s:%s runs Init in every environment: %s",
                self.name, version.function_name, version.version, why,
            )  # fmt: skip

    # ---- ends ---------------------------------------------------------------------

    async def retire(self, function_arn: str, version: str | None = None) -> None:
        """The version (None: every version of the function) changed or is gone."""

        def gone(key: tuple[str, ...]) -> bool:
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


def _can_fork(backend: object) -> bool:
    return bool(getattr(backend, "restores", False))
