"""What an execution environment is asked to run, and what one invocation gives back.

`EnvironmentSpec` is the plan for one environment (one function version's code,
runtime and limits); `InvokeRequest` is one invocation handed to it; and
`InvokeOutcome` is what the environment reports, already in AWS's terms
(`function_error`, the error JSON, `reusable`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lambdad.sandbox.base import Forward, NetworkMode


@dataclass(frozen=True)
class ImageLaunch:
    """How a container image function starts (its image already resolved and unpacked)."""

    rootfs: Path
    """Host dir of the image's root filesystem, shared read-only; the function's `/`."""
    argv: tuple[str, ...]
    """ENTRYPOINT then CMD, after the function's ImageConfig overrides."""
    working_dir: str
    """WORKDIR, or ImageConfig's WorkingDirectory; "/" when neither sets one."""


@dataclass(frozen=True)
class EnvironmentSpec:
    env_id: str
    function_name: str
    function_version: str
    runtime: str
    """Lambda runtime id: "python3.12", "nodejs20.x", "provided.al2023", ..."""
    handler: str
    code_dir: Path
    """Host dir with the extracted code, seen read-only at /var/task."""
    layer_dirs: tuple[Path, ...]
    """At most one host dir, seen read-only at /opt: the function's layers already
    merged in order, later layers winning (see `catalog.OptTrees`)."""
    memory_mb: int
    ephemeral_storage_mb: int
    environment: Mapping[str, str]
    """The env the function sees, built by the caller (see `lambda_environment`).
    The runtime adds only what it owns: AWS_LAMBDA_RUNTIME_API, _HANDLER,
    LAMBDA_RUNTIME_DIR, AWS_EXECUTION_ENV and PATH-like defaults."""
    network: NetworkMode
    work_dir: Path
    forwards: tuple[Forward, ...] = ()
    """Loopback ports inside that lead to fixed host addresses (network "none")."""
    """Host dir private to this environment; deleted when it is destroyed."""
    strict_runtime: bool = False
    """True: a runtime whose exact interpreter is missing fails Init instead of
    running on the nearest installed version."""
    bytecode_dir: Path | None = None
    """Host dir (the server's, under its data dir) for the bootstraps' precompiled
    bytecode; None: the sandbox runs their sources."""
    image: ImageLaunch | None = None
    """A container image function: its root and command (`code_dir`, `runtime` and
    `handler` then play no part; `environment` already holds the image's ENV)."""


@dataclass(frozen=True)
class InvokeRequest:
    request_id: str
    payload: bytes
    deadline_ms: int
    """Epoch milliseconds."""
    invoked_function_arn: str
    trace_id: str
    """X-Amzn-Trace-Id value, e.g. "Root=1-...;Parent=...;Sampled=0"."""
    client_context: str | None
    """As received in X-Amz-Client-Context (base64 of JSON)."""
    cognito_identity: str | None
    stream_limit: int = 6291556
    """The most a streamed response may carry (init ends it past that with
    Function.ResponseSizeTooLarge): 6 MB when it is kept whole for Invoke,
    `MAX_STREAMED_RESPONSE` when it streams to the caller."""


@dataclass(frozen=True)
class InvokeOutcome:
    payload: bytes
    """The function's response bytes, or AWS's error JSON."""
    function_error: str | None
    """"Unhandled" when the function failed (raised, timed out, crashed), else None."""
    error_type: str | None
    """e.g. "ZeroDivisionError", "Sandbox.Timedout", "Runtime.ExitError"."""
    logs: bytes
    """The end of the function's stdout+stderr during this invocation (the last
    16 KB; all of it went to the environment's output sink)."""
    duration_ms: float
    max_memory_used_mb: int
    reusable: bool
    """False: the caller must destroy the environment (crash, timeout, OOM, init failure)."""
    streamed: bool = False
    """True: the response went to the invocation's `ResponseStream` (`payload` is
    then empty, or the error JSON when the stream ended with an error)."""
