"""SnapStart: each SnapStart version's template, and its environments restored from it.

(What templates of any kind share, and how they end, is `pool/templates.py`.)

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

from lambdad.catalog import SNAPSTART_ON, SnapStartFailed, Version
from lambdad.pool.environment import ExecutionEnvironment
from lambdad.pool.templates import (
    TEMPLATE_HEADROOM_MB,
    NoRoomForTemplate,
    Spawn,
    StartTemplate,
    Template,
    TemplateRefused,
    TemplateSet,
)
from lambdad.runtimes import EnvironmentSpec, InvokeOutcome, OutputSink
from lambdad.runtimes.launch import restore_report_line, restore_start_line

log = logging.getLogger(__name__)

__all__ = [
    "TEMPLATE_HEADROOM_MB",
    "NoRoomForTemplate",
    "Spawn",
    "StartTemplate",
    "Template",
    "TemplateRefused",
    "Templates",
    "snapstart_applies",
]


def snapstart_applies(version: Version) -> bool:
    """Whether AWS would restore `version`'s environments: SnapStart on, published."""
    return version.config.snap_start == SNAPSTART_ON and version.version != "$LATEST"


class Templates(TemplateSet):
    """SnapStart versions' templates (see the module docstring)."""

    name = "snapstart"

    cannot_fork = (
        "snapstart: this host cannot restore environments from a template (it needs bwrap "
        "as an unprivileged user and cgroups): SnapStart versions run Init in every "
        "environment and show OptimizationStatus Off"
    )

    def serves(self, version: Version, spec: EnvironmentSpec | None = None) -> bool:
        """Whether `version`'s environments are restored (else, Init as on demand)."""
        return snapstart_applies(version) and self._eligible(version, spec)

    async def prepare(self, version: Version) -> None:
        """Make `version`'s template now (PublishVersion). Raises SnapStartFailed (when
        there is no room for it now, it is made at its first restore instead)."""
        if self.serves(version):
            try:
                await self._template(version)
            except NoRoomForTemplate as exc:
                self._warn_once(version, f"{exc}; its template is made at its first start")
            except TemplateRefused as exc:
                self._refused.add(self._version_key(version))
                self._warn_once(version, str(exc))

    def _init_failed(self, error: InvokeOutcome) -> SnapStartFailed:
        return SnapStartFailed(_init_failure(error.payload))

    async def restore(
        self, version: Version, spec: EnvironmentSpec, output: OutputSink | None
    ) -> ExecutionEnvironment | None:
        """An environment of `version` restored from its template (made first when it is
        missing); None: start it the on-demand way (the server log says why)."""
        if self._backend is None:
            return None
        try:
            template = await self._template(version)
        except SnapStartFailed as exc:
            if isinstance(exc, TemplateRefused):
                self._refused.add(self._version_key(version))
            self._warn_once(version, str(exc))
            return None
        child = await self._fork(version, template, spec)
        if child is None:
            return None
        return await self._environment(
            template,
            child,
            spec,
            output,
            start_line=restore_start_line(spec),
            report_line=lambda ms: restore_report_line(spec, ms),
        )


def _init_failure(payload: bytes) -> str:
    """The version's StateReason for a failed Init: its error, as AWS words it."""
    import json

    try:
        error = json.loads(payload)
        kind, message = error.get("errorType", ""), error.get("errorMessage", "")
    except (ValueError, AttributeError):
        kind, message = "Runtime.Unknown", ""
    return f"Init failed during SnapStart optimization: {kind}: {message}".strip(": ")
