"""Turns a function version into a started execution environment (a cold start).

This is where the catalog's vocabulary (Version, its configuration and code)
meets the runtime's (EnvironmentSpec): the code is unpacked, Lambda's
environment variables and credentials are built, and a private work dir is
made for the sandbox.
"""

from __future__ import annotations

import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lambdad.catalog import CodeCache, OptTrees, Version
from lambdad.concurrency import run_sync
from lambdad.endpoints import AwsEndpoints, EndpointPlan, plan_endpoints
from lambdad.pool.environment import ExecutionEnvironment
from lambdad.runtimes import EnvironmentSpec, OutputSink, RuntimeStore, lambda_environment
from lambdad.sandbox import NetworkMode, SandboxBackend


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


OpenOutput = Callable[[str, str, str], OutputSink]
"""(region, log group, log stream) -> where an environment's Init output goes."""

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
    ):
        """`runtimes`: where the managed runtimes' SDKs are prepared (None: none bundled)."""
        self.settings = settings
        self.runtimes = runtimes
        self.credentials: Credentials = credentials or (lambda _version: None)
        self.code_cache = code_cache
        self.backend = backend
        self.opt_trees = opt_trees
        self.open_output = open_output
        settings.work_root.mkdir(parents=True, exist_ok=True)

    async def start(
        self,
        version: Version,
        env_id: str,
        log_stream: str,
        initialization_type: str = "on-demand",
    ) -> ExecutionEnvironment:
        """`initialization_type`: "on-demand", or "provisioned-concurrency" for an
        environment initialised ahead of traffic (AWS_LAMBDA_INITIALIZATION_TYPE)."""
        config = version.config
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
            handler=config.handler,
            credentials=self.credentials(version) or session_credentials(),
            user_variables=config.environment,
        )
        environment["AWS_LAMBDA_INITIALIZATION_TYPE"] = initialization_type
        network = narrowed(self.settings.network, config.environment.get(NETWORK_VARIABLE))
        endpoints = self._endpoints(forwarded=network != "host" and self.backend.name != "process")
        for key, value in endpoints.env.items():
            environment.setdefault(key, value)  # the function's own variables win
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
        )
        output = (
            self.open_output(region, version.log_group, log_stream) if self.open_output else None
        )
        return await ExecutionEnvironment.start(
            spec, self.backend, output=output, runtimes=self.runtimes
        )

    def _endpoints(self, *, forwarded: bool) -> EndpointPlan:
        """Where the function's SDKs go (its own sandbox network: through forwards)."""
        if self.settings.own_api is None:
            return EndpointPlan({}, ())
        return plan_endpoints(self.settings.endpoints, self.settings.own_api, forwarded=forwarded)

    async def start_provisioned(
        self, version: Version, env_id: str, log_stream: str
    ) -> ExecutionEnvironment:
        return await self.start(version, env_id, log_stream, "provisioned-concurrency")

    def clean_work_root(self) -> None:
        """Remove work dirs a previous server left behind (its sandboxes are gone),
        and the /opt trees no cold start used for a long while."""
        for child in self.settings.work_root.iterdir():
            shutil.rmtree(child, ignore_errors=True)
        self.opt_trees.prune()


def _region_of(function_arn: str) -> str | None:
    """The region of a function ARN (arn:aws:lambda:REGION:...): AWS_REGION follows it."""
    parts = function_arn.split(":")
    return parts[3] if len(parts) > 3 and parts[3] else None
