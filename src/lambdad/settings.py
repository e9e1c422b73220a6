"""One typed `Settings`, read once from `LAMBDAD_*` and passed down.

Nothing below `cli.py`/`server.py` reads `os.environ`; parts get what they need
from this object.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

NetworkMode = Literal["none", "egress", "host"]
AuthMode = Literal["on", "off"]
SandboxBackend = Literal["auto", "bwrap", "process"]


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 9000
    # Names (comma-separated) the API answers for besides loopback and `host`.
    public_hosts: str = ""
    data_dir: Path = Path(".lambdad")
    # None: a SQLite file under data_dir. Else an SQLAlchemy URL
    # (postgresql://... is rewritten to the psycopg 3 driver).
    database_url: str | None = None
    region: str = "us-east-1"
    account_id: str = "000000000000"
    log_level: str = "info"
    # "off": requests are served unsigned, as anyone (local development, loopback only).
    auth: AuthMode = "on"
    # Concurrency available to the account (GetAccountSettings' AccountLimit).
    concurrent_executions: int = 1000
    # Execution environments
    sandbox_backend: SandboxBackend = "auto"
    network: NetworkMode = "none"
    # Other AWS-compatible services functions reach: "URL" (every service) or
    # "SERVICE=URL" entries, comma-separated (see lambdad.endpoints).
    aws_endpoints: str = ""
    # IPv4 ranges (comma-separated CIDRs) that functions in network mode egress may
    # reach although they are private or the host's.
    egress_allow: str = ""
    idle_timeout_s: float = 300.0
    # Environments kept started per runtime lately cold-started, waiting for their
    # function (see lambdad.pool.ready); 0: every cold start builds its own.
    ready_environments: int = 1
    # SnapStart versions' templates kept at once (see lambdad.pool.snapstart).
    snapstart_templates: int = 16
    # On-demand Python environments forked from a per-version template that has not
    # run Init (see lambdad.pool.preinit): templates kept at once (0: off, every cold
    # start takes the usual path), and the memory they may hold together.
    preinit_templates: int = 64
    preinit_templates_mb: int = 1024
    # An idle environment is frozen (no CPU) once idle this long; back-to-back
    # invocations never pay a thaw and a freeze (0: frozen at once after each one).
    freeze_after_s: float = 0.25
    # The longest an invocation waits for a busy environment of its function to free
    # up rather than cold-start another, when one is expected to sooner than a cold
    # start would finish (see lambdad.pool.queueing); 0: always scale out, as AWS does.
    queue_wait_max_s: float = 1.0
    strict_runtimes: bool = False
    # Where the managed runtimes' SDKs are prepared ("": under data_dir); a dir shared
    # by several servers (or CI runs) downloads each runtime once.
    runtime_cache: str = ""
    # Async invokes: retries wait base, then 2 x base (Lambda: 1 and 2 minutes).
    async_retry_base_s: float = 60.0
    async_max_event_age_s: float = 6 * 3600.0
    # Throttled async events wait 1 s, 2 s, 4 s, ... up to this (Lambda: 5 minutes).
    async_throttle_max_delay_s: float = 300.0
    async_workers: int = 16
    # The log store: its size cap (the oldest events go first past it; 1 GiB),
    # and how often log group retention is applied.
    logs_max_bytes: int = 1 << 30
    logs_sweep_interval_s: float = 600.0
    # Schedules: a test clock for the ticker, running `speed` times faster than real
    # time from `epoch` (epoch seconds); 1.0 is real time. For tests only.
    schedule_clock_epoch: float = 0.0
    schedule_clock_speed: float = 1.0
    # A streamed response's limit (InvokeWithResponseStream, RESPONSE_STREAM URLs):
    # AWS's default, 200 MB.
    max_streamed_response: int = 200 * 1024 * 1024
    # Container images: the OCI registries images are pulled from, "URL" (the default)
    # and "HOST=URL" entries, comma-separated (see lambdad.images.registry); and the
    # bounds of one image unpacked (see lambdad.images.limits for why below AWS's 10 GB).
    image_registries: str = ""
    image_max_bytes: int = 2 * 1024**3
    image_max_files: int = 200_000
    # How long an environment's role credentials are valid (AWS: 1 hour); the
    # environment is retired before they expire.
    role_credentials_ttl_s: float = 3600.0
    # Prometheus' /metrics on an address of its own ("HOST:PORT"), unauthenticated,
    # for a scraper that cannot sign; "" for none (the API's /metrics is signed).
    metrics_listen: str = ""
    # How often the per-minute metrics are written to the store (seconds).
    metrics_flush_interval_s: float = 60.0
    # Cost: a price table to use instead of the repo's (src/lambdad/cost/prices.json),
    # whether AWS's monthly free tier is applied, and how long usage rows are kept.
    prices: str = ""
    cost_free_tier: bool = True
    usage_retention_days: float = 400.0
    # Traces (functions with TracingConfig Active): an OTLP/HTTP endpoint to export
    # them to ("" : OTEL_EXPORTER_OTLP_ENDPOINT if set, else none), and how many
    # recent invocations' segments the store keeps for the X-Ray API.
    otlp_endpoint: str = ""
    trace_max_segments: int = 10000
    # Server processes accepting on the port (lambdad.workers): 1 is one process; N > 1
    # a primary (everything) and N-1 secondaries (warm synchronous invokes).
    workers: int = 1

    @property
    def sqlalchemy_url(self) -> str:
        url = self.database_url or f"sqlite:///{(self.data_dir / 'lambdad.db').resolve()}"
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.split("://", 1)[1]
        return url

    @property
    def public_host_names(self) -> list[str]:
        return [name.strip() for name in self.public_hosts.split(",") if name.strip()]

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def runtime_cache_dir(self) -> Path:
        return Path(self.runtime_cache) if self.runtime_cache else self.data_dir / "runtimes"

    @property
    def auth_enabled(self) -> bool:
        return self.auth != "off"

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the given (non-None) fields replaced, e.g. from CLI flags."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"LAMBDAD_{f.name.upper()}")
            if raw is None:
                continue
            values[f.name] = _coerce(f.name, raw)
        return cls(**values)


def _coerce(name: str, raw: str) -> Any:
    default = getattr(Settings(), name)
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, Path):
        return Path(raw)
    return raw
