"""On-demand environments forked from a per-version template that has not run Init.

A usual cold start starts two interpreters (init, then the runtime with its
bootstrap) and each environment keeps both: ~7.6 MB of private memory. Here a
version's template is a sandbox like any other of that version (its code,
layers, variables and limits) whose runtime started and imported its
bootstrap, then, instead of running Init, forks environments on command
(`pool/templates.py`; the fork and the host's checks are SnapStart's,
`sandbox/restore.py`). Each child gets the namespaces, /tmp, cgroup and
variables (log stream, credentials) of its own, sets its search path, and runs
Init itself with on-demand semantics: INIT_START, Init Duration in REPORT, Init
errors and the Init timeout as a usual cold start has them; nothing of
SnapStart's Restore. Init's lines and pid 1's init loop are the template's
pages until written: a child holds ~3 MB of its own.

Which versions: those SnapStart would restore on this host (the bwrap backend
as an unprivileged user with cgroups, network mode "none", a built-in Python
runtime of a zip function), other than SnapStart versions themselves and those
with an AWS_LAMBDA_EXEC_WRAPPER; any other start takes the usual path (a ready
environment, or a new sandbox).

Lifecycle of a template:
- made in the background after a version's first cold start (which never waits
  for it: it takes the usual path); cold starts fork from it once it is ready,
  and take the usual path until then or when a fork fails;
- at most `max_children` (128) live children each: its children share its host
  uid, whose processes (RLIMIT_NPROC) and inotify instances the kernel counts
  together; past that, the version's next template (its next generation) is
  made, the cold start meanwhile taking the usual path;
- keyed by the version's RevisionId: a code or configuration change (`retire`)
  stops its forks at once, and ends it once no environment forked from it is
  alive (they live in a pid namespace below its own: killing it would end a
  busy one mid-invocation); deleting the function does the same;
- ended when unused for `idle_s` with no environment of its own left (`reap`),
  on server stop, or when it dies (the next cold start makes a new one);
- at most `max_templates`, and `max_memory_mb` in all (their processes' private
  memory: what ending them frees; ~5 MB each); past either, the least recently used template without
  environments is ended, and when none can be, the version starts the usual way.

`LAMBDAD_PREINIT_TEMPLATES=0` turns this off (see `settings.py`).

What children share with their template and each other: read-only pages only
(the interpreter, the bootstrap's modules). Not shared: /tmp, /dev/shm, every
writable mount, `random`'s state (reseeded), `os.urandom` (the kernel's), the
function's own state (Init runs after the fork). Shared, as with SnapStart:
the interpreter's hash seed (`PYTHONHASHSEED`'s), fixed at interpreter start.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace

from lambdad.catalog import Version
from lambdad.concurrency import run_sync
from lambdad.pool.environment import ExecutionEnvironment
from lambdad.pool.snapstart import snapstart_applies
from lambdad.pool.templates import (
    TEMPLATE_IDLE_S,
    NoRoomForTemplate,
    Spawn,
    StartTemplate,
    Template,
    TemplateSet,
)
from lambdad.runtimes import EnvironmentSpec, OutputSink
from lambdad.runtimes.launch import PRE_INIT_VARIABLE, start_notices
from lambdad.sandbox import SandboxSpec
from lambdad.sandbox.base import MB_PER_VCPU, SandboxError

log = logging.getLogger(__name__)

MAX_CHILDREN = 128
"""Live environments one template forks; the next cold start makes the version's next
template. Children share their template's host uid, and the kernel counts processes
(RLIMIT_NPROC: 1,024, Lambda's) and inotify instances per uid: ~250 no-op environments
(4 tasks each) would take every process the uid may have."""
WRAPPER_VARIABLE = "AWS_LAMBDA_EXEC_WRAPPER"
PREINIT_MAX_MEMORY_MB = 1024
"""All on-demand templates together, by their processes' private memory (the default)."""
PREINIT_HEADROOM_MB = 16384
"""A template's memory limit beyond its function's size. Each live child keeps ~0.45 MB
charged to the template's cgroup: the template's pages as they were at its fork, which
the template wrote (copied) since. No function code runs in an on-demand template, so
this bounds only that: 5,000 environments of one version hold ~2.2 GB there."""


class PreInitTemplates(TemplateSet):
    """On-demand templates (see the module docstring)."""

    name = "templates"
    disk_tmp = True  # /tmp as a usual cold start's: disk-backed, not the function's memory
    headroom_mb = PREINIT_HEADROOM_MB

    def __init__(
        self,
        backend: object,
        start_template: StartTemplate,
        *,
        max_templates: int = 64,
        max_memory_mb: int = PREINIT_MAX_MEMORY_MB,
        max_children: int = MAX_CHILDREN,
        idle_s: float = TEMPLATE_IDLE_S,
        network_of: Callable[[Version], str] = lambda _version: "none",
        spawn: Spawn | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            backend, start_template, max_templates=max_templates, idle_s=idle_s,
            clock=clock, network_of=network_of, spawn=spawn,
        )  # fmt: skip
        self.max_memory_mb = max_memory_mb
        self._retiring: list[Template] = []
        """Retired templates whose children still live (ended by `reap` once they don't)."""
        self._making: set[tuple[str, ...]] = set()
        self._generations: dict[tuple[str, ...], int] = {}
        """A revision's current template generation (see `MAX_CHILDREN`)."""
        self.max_children = max_children

    def serves(self, version: Version, spec: EnvironmentSpec | None = None) -> bool:
        """Whether `version`'s cold starts may fork from its template. Not with an
        AWS_LAMBDA_EXEC_WRAPPER: the wrapper is the function's script, and what it sets
        up before the runtime starts is each environment's, not a template's."""
        if WRAPPER_VARIABLE in version.config.environment:
            return False
        return not snapstart_applies(version) and self._eligible(version, spec)

    def _version_key(self, version: Version) -> tuple[str, ...]:
        return (version.function_arn, version.version, version.revision_id)

    def _key(self, version: Version) -> tuple[str, ...]:
        """Its revision's template of the current generation (see `MAX_CHILDREN`)."""
        base = self._version_key(version)
        return (*base, str(self._generations.get(base, 0)))

    # ---- cold starts ---------------------------------------------------------------

    async def start(
        self, version: Version, spec: EnvironmentSpec, output: OutputSink | None
    ) -> ExecutionEnvironment | None:
        """`spec`'s environment forked from `version`'s template, its Init run (or failed,
        as any Init); None: no template is ready (it is made in the background when
        wanted) or the fork failed: the usual way then."""
        template = self._live(version)
        if template is None:
            return None
        if template.live_children() >= self.max_children:
            # Full: its children share its host uid (RLIMIT_NPROC, inotify instances are
            # counted per uid). The next generation's template takes the next ones.
            base = self._version_key(version)
            self._generations[base] = self._generations.get(base, 0) + 1
            self.want(version)
            return None
        child = await self._fork(version, template, spec)
        if child is None:
            return None
        plan = template.environment.plan
        notices = () if plan is None else start_notices(spec, plan)
        return await self._environment(
            template, child, spec, output, start_line="\n".join(notices), snapshot=False
        )

    def want(self, version: Version) -> None:
        """Make `version`'s template in the background, unless it is there or coming."""
        key = self._key(version)
        if self._spawn is None or key in self._making or self._live(version) is not None:
            return
        self._making.add(key)

        async def make() -> None:
            try:
                await self._template(version)
            except NoRoomForTemplate as exc:
                log.info("templates: %s:%s: none made (%s)", version.function_name,
                         version.version, exc)  # fmt: skip
            except SandboxError as exc:
                self._warn_once(version, str(exc))
            except Exception as exc:  # TemplateRefused and what the platform raised
                self._refused.add(self._version_key(version))
                self._warn_once(version, str(exc))
            finally:
                self._making.discard(key)

        self._spawn(make)

    def _child_spec(self, template: Template, spec: EnvironmentSpec | None = None) -> SandboxSpec:
        child = super()._child_spec(template, spec)
        variables = {k: v for k, v in child.env.items() if k != PRE_INIT_VARIABLE}
        return replace(child, env=variables)

    def _init_cpus(self, memory_mb: int) -> float | None:
        # As a usual cold start's: Init on at least a whole core (Lambda boosts it too).
        return max(1.0, memory_mb / MB_PER_VCPU)

    # ---- room and ends -------------------------------------------------------------

    async def _make_room(self, version: Version) -> None:
        """Past `max_templates` or `max_memory_mb`, end idle templates (oldest first)."""
        await super()._make_room(version)
        while self._templates and await run_sync(self._memory_after_one_more) > self.max_memory_mb:
            idle = [t for t in self._templates.values() if t.live_children() == 0]
            if not idle:
                raise NoRoomForTemplate(f"templates hold {self.max_memory_mb} MB")
            oldest = min(idle, key=lambda t: t.last_used)
            await self._drop(oldest, "templates' memory")

    def _memory_mb(self) -> float:
        """What the templates hold themselves: their processes' private memory, which
        ending them frees (not what their cgroups hold for live children). Blocking."""
        backend = self._backend
        assert backend is not None
        total = 0.0
        for template in self._templates.values():
            sandbox = template.environment.sandbox
            total += backend.template_memory_mb(sandbox) if sandbox is not None else 0.0
        return total

    def _memory_after_one_more(self) -> float:
        """What the templates would hold with one more, as large as their mean (blocking)."""
        held = self._memory_mb()
        return held + held / len(self._templates) if self._templates else 0.0

    async def retire(self, function_arn: str, version: str | None = None) -> None:
        """The version changed or is gone: no more forks from its template, which ends
        once no environment forked from it is alive."""
        self._refused = {k for k in self._refused if not _of(k, function_arn, version)}
        self._warned = {k for k in self._warned if not _of(k, function_arn, version)}
        self._generations = {
            k: n for k, n in self._generations.items() if not _of(k, function_arn, version)
        }
        for key, template in list(self._templates.items()):
            if _of(key, function_arn, version):
                del self._templates[key]
                self._retiring.append(template)
        await self._end_retired()

    async def _end_retired(self) -> None:
        for template in list(self._retiring):
            spare, template.spare = template.spare, None
            if spare is not None:
                await run_sync(spare.discard)
            # Another retire or reap may have ended it while the discard ran.
            if template in self._retiring and template.live_children() == 0:
                self._retiring.remove(template)
                await template.kill("version changed")

    async def reap(self) -> int:
        await self._end_retired()
        return await super().reap()

    async def close(self) -> None:
        retiring, self._retiring = self._retiring, []
        for template in retiring:
            await template.kill("server stopping")
        await super().close()


def _of(key: tuple[str, ...], function_arn: str, version: str | None) -> bool:
    return key[0] == function_arn and (version is None or key[1] == version)
