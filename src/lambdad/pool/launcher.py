"""Turns a function version into a started execution environment (a cold start).

This is where the catalog's vocabulary (Version, its configuration and code)
meets the runtime's (EnvironmentSpec): the code is unpacked, Lambda's
environment variables and credentials are built, and a private work dir is
made for the sandbox.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from lambdad.catalog import CodeCache, LoggingConfig, OptTrees, Version
from lambdad.concurrency import run_sync
from lambdad.endpoints import AwsEndpoints, EndpointPlan, plan_endpoints
from lambdad.images import ImageStore
from lambdad.pool.adoption import ParkedEnvironment
from lambdad.pool.environment import ExecutionEnvironment
from lambdad.pool.image_start import handler_of, image_launch, image_variables, pinned_image
from lambdad.pool.preinit import PreInitTemplates
from lambdad.pool.ready import ReadyEnvironments, ReadyKey
from lambdad.pool.snapstart import Templates
from lambdad.runtimes import EnvironmentSpec, OutputSink, RuntimeStore, lambda_environment
from lambdad.runtimes.launch import PRE_INIT_VARIABLE
from lambdad.sandbox import NetworkMode, SandboxBackend
from lambdad.telemetry import new_stream_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LaunchSettings:
    region: str
    network: str
    strict_runtimes: bool
    work_root: Path
    bytecode_dir: Path | None = None
    """Where the bootstraps' bytecode is cached (the data dir's, never the source tree's)."""
    own_api: str | None = None
    """lambdad's API as reached from this host (AWS_ENDPOINT_URL_LAMBDA); None: not given."""
    endpoints: AwsEndpoints = field(default_factory=AwsEndpoints)
    """The operator's endpoints of other services (see `lambdad.endpoints`)."""
    ready_environments: int = 1
    """Parked environments kept per runtime (see `pool.ready`); 0: none."""


def session_credentials() -> dict[str, str]:
    """Credentials in the environment when roles are off (`--auth off`).

    They sign requests to nothing here, but SDKs inside functions expect them
    and must never fall back to probing an instance metadata service.
    """
    return {
        "AWS_ACCESS_KEY_ID": "ASIA" + secrets.token_hex(8).upper(),
        "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(30),
        "AWS_SESSION_TOKEN": secrets.token_urlsafe(96),
    }


NETWORK_VARIABLE = "LAMBDAD_NETWORK"
"""A function's environment variable that narrows the server's network mode for it."""
NETWORK_MODES: tuple[NetworkMode, ...] = ("none", "egress", "host")
"""From the narrowest to the widest."""


def narrowed(server_mode: str, requested: str | None) -> NetworkMode:
    """The function's network mode: the one it asks for when it is not wider than the
    server's; an unknown or wider request gets the server's."""
    server: NetworkMode = next((m for m in NETWORK_MODES if m == server_mode), "none")
    for mode in NETWORK_MODES[: NETWORK_MODES.index(server) + 1]:
        if mode == (requested or "").strip().lower():
            return mode
    return server


SNAP_START = "snap-start"
"""AWS_LAMBDA_INITIALIZATION_TYPE of a SnapStart version's environments."""

PARKED_MEMORY_MB = 128
"""A parked environment's memory limit until its function's applies (it holds ~10 MB)."""

OpenOutput = Callable[[str, str, str, LoggingConfig | None], OutputSink]
"""(region, log group, log stream, the function's LoggingConfig) -> where an environment's
Init output goes."""

Credentials = Callable[[Version], dict[str, str] | None]
"""A version -> the credentials its new environment gets (its role's session:
`iam.Access.credentials_for`); None: `session_credentials` (roles off)."""


class EnvironmentLauncher:
    def __init__(
        self,
        settings: LaunchSettings,
        code_cache: CodeCache,
        backend: SandboxBackend,
        opt_trees: OptTrees,
        open_output: OpenOutput | None = None,
        runtimes: RuntimeStore | None = None,
        credentials: Credentials | None = None,
        images: ImageStore | None = None,
    ):
        """`runtimes`: where the managed runtimes' SDKs are prepared (None: none bundled);
        `images`: where container image functions' images are."""
        self.settings = settings
        self.images = images
        self.runtimes = runtimes
        self.credentials: Credentials = credentials or (lambda _version: None)
        self.code_cache = code_cache
        self.backend = backend
        self.opt_trees = opt_trees
        self.open_output = open_output
        settings.work_root.mkdir(parents=True, exist_ok=True)
        self.ready: ReadyEnvironments | None = None
        """Environments started ahead of their function; None: the backend cannot."""
        if getattr(backend, "late_mounts", False) and settings.ready_environments > 0:
            self.ready = ReadyEnvironments(self._park, settings.ready_environments)
        self._parked_ids = itertools.count()
        self.templates: Templates | None = None
        """SnapStart versions' templates (set by the server); None: every start runs Init."""
        self.preinit: PreInitTemplates | None = None
        """On-demand templates (set by the server); None: no environment is forked."""

    async def start(
        self,
        version: Version,
        env_id: str,
        log_stream: str,
        initialization_type: str = "on-demand",
    ) -> ExecutionEnvironment:
        """`initialization_type`: "on-demand", or "provisioned-concurrency" for an
        environment initialised ahead of traffic (AWS_LAMBDA_INITIALIZATION_TYPE). A
        SnapStart version's is restored from its template (`pool/snapstart.py`)."""
        templates = self.templates
        snap = templates is not None and templates.serves(version)
        if snap:
            initialization_type = SNAP_START
        spec, output = await self._environment(version, env_id, log_stream, initialization_type)
        started = time.monotonic()
        if snap and templates is not None and templates.serves(version, spec):
            forked = await templates.restore(version, spec, output)
            if forked is not None:
                _log_fork(env_id, version, "restored from its template", started)
                return forked
        preinit = self.preinit
        if preinit is not None and not snap and preinit.serves(version, spec):
            forked = await preinit.start(version, spec, output)
            if forked is not None:
                _log_fork(env_id, version, "forked from its template, Init run", started)
                return forked
        ready_key = self._ready_key(spec)
        env, ready = await self._from_ready(ready_key, spec, output), True
        if env is None:
            env, ready = await self._started(spec, output), False
        if self.ready is not None and ready_key is not None:
            await self.ready.want(ready_key)  # its replacement, or its first, parks from now on
        if preinit is not None and not snap and preinit.serves(version, spec):
            preinit.want(version)  # made after this cold start: the next ones fork
        log.info(
            "env %s: cold start of %s:%s %.1f ms (%s; ready environment: %s)",
            env_id,
            version.function_name,
            version.version,
            (time.monotonic() - started) * 1000,
            ", ".join(f"{k} {v:.1f} ms" for k, v in env.phases.items()),
            "yes" if ready else "no",
        )
        return env

    def network_of(self, version: Version) -> NetworkMode:
        """The network mode `version`'s environments get."""
        return narrowed(self.settings.network, version.config.environment.get(NETWORK_VARIABLE))

    async def start_template(
        self, version: Version, fork_end: socket.socket
    ) -> ExecutionEnvironment:
        """A SnapStart version's template (`pool/snapstart.py`): a sandbox of the version
        whose runtime runs Init, then forks environments on `fork_end`'s commands."""
        env_id = f"snap{next(self._parked_ids):04d}{secrets.token_hex(3)}"
        spec, output = await self._environment(
            version, env_id, new_stream_name(version.version), SNAP_START
        )
        return await ExecutionEnvironment.start(
            spec, self.backend, output=output, runtimes=self.runtimes, template=fork_end
        )

    async def start_preinit_template(
        self, version: Version, fork_end: socket.socket
    ) -> ExecutionEnvironment:
        """An on-demand template of `version` (`pool/preinit.py`): a sandbox of the version
        whose runtime, started, forks environments on `fork_end`'s commands before Init.
        It holds no credentials and writes to no log stream (its children get theirs)."""
        env_id = f"tmpl{next(self._parked_ids):04d}{secrets.token_hex(3)}"
        spec, _output = await self._environment(version, env_id, "", "on-demand", template=True)
        spec = replace(spec, environment={**spec.environment, PRE_INIT_VARIABLE: "1"})
        return await ExecutionEnvironment.start(
            spec, self.backend, runtimes=self.runtimes, template=fork_end
        )

    async def _environment(
        self,
        version: Version,
        env_id: str,
        log_stream: str,
        initialization_type: str,
        template: bool = False,
    ) -> tuple[EnvironmentSpec, OutputSink | None]:
        """What an environment of `version` is started with, and where its output goes;
        `template`: an on-demand template's (no credentials, no output)."""
        config = version.config
        image = None
        handler = config.handler
        if version.image_digest is not None:
            image = await run_sync(pinned_image, self.images, version)
            code_dir, opt_dir = image.rootfs, None
            handler = handler_of(image, config.image_config)
        else:
            code_dir = await run_sync(self.code_cache.ensure, version.code_key)
            layer_keys = [ref.code_key for ref in config.layer_refs]
            opt_dir = await run_sync(self.opt_trees.ensure, layer_keys)
        work_dir = self.settings.work_root / env_id
        region = _region_of(version.function_arn) or self.settings.region
        environment = lambda_environment(
            function_name=version.function_name,
            function_version=version.version,
            memory_mb=config.memory_size,
            region=region,
            log_group_name=version.log_group,
            log_stream_name=log_stream,
            runtime=config.runtime,
            handler=handler,
            credentials={} if template else self.credentials(version) or session_credentials(),
            user_variables=config.environment,
            log_format=config.logging.log_format if config.logging else None,
            log_level=config.logging.application_log_level if config.logging else None,
        )
        environment["AWS_LAMBDA_INITIALIZATION_TYPE"] = initialization_type
        network = self.network_of(version)
        endpoints = self._endpoints(forwarded=network != "host" and self.backend.name != "process")
        for key, value in endpoints.env.items():
            environment.setdefault(key, value)  # the function's own variables win
        if image is not None:
            environment = image_variables(image, environment)
        spec = EnvironmentSpec(
            env_id=env_id,
            function_name=version.function_name,
            function_version=version.version,
            runtime=config.runtime,
            handler=config.handler,
            code_dir=code_dir,
            layer_dirs=() if opt_dir is None else (opt_dir,),
            memory_mb=config.memory_size,
            ephemeral_storage_mb=config.ephemeral_storage,
            environment=environment,
            network=network,
            work_dir=work_dir,
            forwards=endpoints.forwards,
            strict_runtime=self.settings.strict_runtimes,
            bytecode_dir=self.settings.bytecode_dir,
            image=None if image is None else image_launch(image, config.image_config),
        )
        output = (
            self.open_output(region, version.log_group, log_stream, config.logging)
            if self.open_output and not template
            else None
        )
        return spec, output

    async def _started(
        self, spec: EnvironmentSpec, output: OutputSink | None
    ) -> ExecutionEnvironment:
        return await ExecutionEnvironment.start(
            spec, self.backend, output=output, runtimes=self.runtimes
        )

    def _ready_key(self, spec: EnvironmentSpec) -> ReadyKey | None:
        """What a ready environment for `spec` is kept under; None: none can start it."""
        if self.ready is None:
            return None
        if spec.image is not None:
            return None  # a ready environment runs a managed runtime, never an image's
        if spec.network != "none" or not spec.runtime.startswith("python"):
            log.info(
                "env %s: no ready environment for runtime %s in network mode %s",
                spec.env_id, spec.runtime, spec.network,
            )  # fmt: skip
            return None
        return ReadyKey(spec.runtime, spec.ephemeral_storage_mb)

    async def _from_ready(
        self, key: ReadyKey | None, spec: EnvironmentSpec, output: OutputSink | None
    ) -> ExecutionEnvironment | None:
        """A ready environment made `spec`'s (its Init run), or None: start one the usual
        way (the server log says why)."""
        ready = self.ready
        if ready is None or key is None:
            return None
        parked = await ready.take(key)
        if parked is None:
            log.info("env %s: no ready environment for %s yet", spec.env_id, spec.runtime)
            return None
        why = await parked.adopt(spec, output=output)
        if why is not None:
            log.info("env %s: a ready environment cannot start it (%s)", spec.env_id, why)
            await ready.put_back(key, parked)
            return None
        return parked

    async def _park(self, key: ReadyKey) -> ParkedEnvironment:
        """One parked environment for `key` (see `pool.ready`)."""
        env_id = f"ready{next(self._parked_ids):04d}{secrets.token_hex(3)}"
        work_dir = self.settings.work_root / env_id
        region = self.settings.region
        environment = lambda_environment(
            function_name="", function_version="", memory_mb=PARKED_MEMORY_MB, region=region,
            log_group_name="", log_stream_name="", runtime=key.runtime, handler="",
            credentials={}, user_variables={},
        )  # fmt: skip
        spec = EnvironmentSpec(
            env_id=env_id, function_name="", function_version="", runtime=key.runtime,
            # No code: /var/task stays an empty mount point until `adopt`.
            handler="", code_dir=work_dir / "code", layer_dirs=(), memory_mb=PARKED_MEMORY_MB,
            ephemeral_storage_mb=key.ephemeral_storage_mb, environment=environment,
            network="none", work_dir=work_dir,
            forwards=self._endpoints(forwarded=True).forwards,
            strict_runtime=self.settings.strict_runtimes, bytecode_dir=self.settings.bytecode_dir,
        )  # fmt: skip
        return await ParkedEnvironment.park(spec, self.backend, runtimes=self.runtimes)

    def _endpoints(self, *, forwarded: bool) -> EndpointPlan:
        """Where the function's SDKs go (its own sandbox network: through forwards)."""
        if self.settings.own_api is None:
            return EndpointPlan({}, ())
        return plan_endpoints(self.settings.endpoints, self.settings.own_api, forwarded=forwarded)

    async def start_provisioned(
        self, version: Version, env_id: str, log_stream: str
    ) -> ExecutionEnvironment:
        return await self.start(version, env_id, log_stream, "provisioned-concurrency")

    async def close(self) -> None:
        """Destroy the ready environments (before the backend closes)."""
        if self.ready is not None:
            await self.ready.close()

    def clean_work_root(self) -> None:
        """Remove work dirs a previous server left behind (its sandboxes are gone),
        and the /opt trees no cold start used for a long while."""
        for child in self.settings.work_root.iterdir():
            shutil.rmtree(child, ignore_errors=True)
        self.opt_trees.prune()


def _log_fork(env_id: str, version: Version, how: str, started: float) -> None:
    """The server's line for a cold start by fork: "env ID: NAME:VERSION HOW in 6.1 ms"."""
    log.info(
        "env %s: %s:%s %s in %.1f ms", env_id, version.function_name, version.version, how,
        (time.monotonic() - started) * 1000,
    )  # fmt: skip


def _region_of(function_arn: str) -> str | None:
    """The region of a function ARN (arn:aws:lambda:REGION:...): AWS_REGION follows it."""
    parts = function_arn.split(":")
    return parts[3] if len(parts) > 3 and parts[3] else None
