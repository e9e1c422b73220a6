"""The warm pool: execution environments per function version, reused while warm.

Contract:
- `acquire(version)` hands out an IDLE environment of exactly that version
  (same code and configuration, i.e. same RevisionId) or cold-starts one. It
  serves one invocation at a time: the caller owns it until `release`.
- `release(lease, reusable)` returns it as IDLE, or destroys it when it is
  not reusable (poison on error) or was retired meanwhile. An IDLE
  environment is frozen (its processes get no CPU) once it has been idle for
  `freeze_after_s` (by `run_freezer`; at once in `release` when that is 0):
  back-to-back invocations find it running and pay no thaw and freeze, and
  an environment left idle uses no CPU a moment later.
- Functions are named by their unqualified ARN everywhere here: two functions
  of one name in two regions are two functions.
- `retire(function_arn, version)` is called on every code/configuration change
  (of $LATEST: published versions never change) and on delete: idle
  environments of that version, or of the whole function, are destroyed at
  once, busy ones when released.
- `reap(now)` destroys environments idle for longer than `idle_timeout_s`, and
  idle ones older than `max_age_s` (their role credentials would expire during
  an invocation: `iam/role_sessions.py`); `acquire` never hands those out, so
  the next invocation cold-starts with fresh credentials.
- Provisioned environments (`provision`) belong to a qualifier's provisioned
  concurrency: only `acquire(version, provisioned_for=qualifier)` hands them
  out, they are never reaped for idling, and `retire` leaves them to their
  provisioner (`pool/provisioned.py`), which replaces or drops them.
"""

from __future__ import annotations

import enum
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio

from lambdad.catalog import Version
from lambdad.pool.environment import ExecutionEnvironment

log = logging.getLogger(__name__)

Clock = Callable[[], float]


class EnvState(enum.Enum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"
    DEAD = "dead"


@dataclass(frozen=True)
class PoolKey:
    function_arn: str
    """Unqualified: the function of one region."""
    version: str
    revision_id: str

    @classmethod
    def of(cls, version: Version) -> PoolKey:
        return cls(version.function_arn, version.version, version.revision_id)


@dataclass
class Lease:
    """One environment in the pool, and what the pool knows of it."""

    id: str
    key: PoolKey
    environment: ExecutionEnvironment
    log_stream: str
    state: EnvState = EnvState.STARTING
    last_used: float = 0.0
    invocations: int = 0
    retired: bool = False
    cold: bool = field(default=True)
    provisioned_for: str | None = None
    """The qualifier whose provisioned concurrency this environment is, if any."""
    allocated: bool = False
    """Provisioned and parked idle once: from then on it counts as allocated."""
    started_at: float = 0.0

    def transition(self, new: EnvState) -> None:
        allowed = {
            EnvState.STARTING: {EnvState.BUSY, EnvState.DEAD},
            EnvState.IDLE: {EnvState.BUSY, EnvState.DEAD},
            EnvState.BUSY: {EnvState.IDLE, EnvState.DEAD},
            EnvState.DEAD: set(),
        }
        if new not in allowed[self.state]:
            raise RuntimeError(f"env {self.id}: {self.state.value} -> {new.value} is not allowed")
        self.state = new


StartEnvironment = Callable[[Version, str, str], Awaitable[ExecutionEnvironment]]
"""(version, env_id, log_stream) -> a started environment (cold start)."""


class EnvironmentPool:
    def __init__(
        self,
        start_environment: StartEnvironment,
        new_stream_name: Callable[[str], str],
        idle_timeout_s: float,
        clock: Clock = time.monotonic,
        start_provisioned: StartEnvironment | None = None,
        max_age_s: float | None = None,
        freeze_after_s: float = 0.0,
    ) -> None:
        self._start = start_environment
        self.max_age_s = max_age_s
        self._start_provisioned = start_provisioned or start_environment
        self._new_stream_name = new_stream_name
        self.idle_timeout_s = idle_timeout_s
        self.freeze_after_s = freeze_after_s
        self._clock = clock
        self._went_idle = anyio.Event()  # wakes the freezer
        self._leases: dict[str, Lease] = {}
        self._ids = itertools.count(1)
        self._lock = anyio.Lock()

    # -- the invocation path -------------------------------------------------

    async def acquire(self, version: Version, provisioned_for: str | None = None) -> Lease:
        """An idle environment, a provisioned one first when `provisioned_for` names
        the qualifier; else a cold start (spill-over above provisioned runs on demand)."""
        key = PoolKey.of(version)
        now = self._clock()
        async with self._lock:
            idle: list[Lease] = []
            for wanted in dict.fromkeys((provisioned_for, None)):
                idle = idle or [
                    lease
                    for lease in self._leases.values()
                    if lease.key == key
                    and lease.state is EnvState.IDLE
                    and not lease.retired
                    and lease.provisioned_for == wanted
                    and not self._too_old(lease, now)
                ]
            if idle:
                # Most recently used first: it is the most likely to be warm in caches.
                lease = max(idle, key=lambda item: item.last_used)
                lease.transition(EnvState.BUSY)
                lease.cold = False
                return lease
        return await self._cold_start(version, key)

    async def _cold_start(self, version: Version, key: PoolKey) -> Lease:
        return await self._start_lease(version, None)

    async def provision(self, version: Version, qualifier: str) -> Lease:
        """Start an environment for `qualifier`'s provisioned concurrency; it waits IDLE
        (frozen) for its first invocation. Raises what the start raises."""
        lease = await self._start_lease(version, qualifier)
        reusable = lease.environment.init_error is None
        await self.release(lease, reusable=reusable, count=False)
        lease.allocated = lease.state is EnvState.IDLE
        return lease

    async def _start_lease(self, version: Version, provisioned_for: str | None) -> Lease:
        """A started environment, BUSY for its caller; on demand it is a cold start."""
        env_id = f"{next(self._ids):04d}{_suffix()}"
        stream = self._new_stream_name(version.version)
        start = self._start if provisioned_for is None else self._start_provisioned
        environment = await start(version, env_id, stream)
        lease = Lease(
            id=env_id,
            key=PoolKey.of(version),
            environment=environment,
            log_stream=stream,
            cold=provisioned_for is None,
            provisioned_for=provisioned_for,
            last_used=self._clock(),
            started_at=self._clock(),
        )
        lease.transition(EnvState.BUSY)
        try:
            async with self._lock:
                self._leases[env_id] = lease
        except BaseException:  # cancelled (its caller gone) before the pool knew of it
            with anyio.CancelScope(shield=True):
                await environment.destroy("start abandoned")
            raise
        log.info(
            "env %s: %s for %s:%s in %.1f ms (%s)",
            env_id,
            "started" if provisioned_for is None else "provisioned",
            version.function_name,
            provisioned_for or version.version,
            environment.init_duration_ms,
            environment.backend_name,
        )
        return lease

    def provisioned(self, function_arn: str, qualifier: str) -> list[Lease]:
        """The live provisioned environments of one qualifier."""
        return [
            lease
            for lease in self._leases.values()
            if lease.key.function_arn == function_arn
            and lease.provisioned_for == qualifier
            and lease.allocated
            and lease.state in (EnvState.IDLE, EnvState.BUSY)
            and not lease.retired
        ]

    def provisioned_keys(self) -> set[tuple[str, str]]:
        """(function ARN, qualifier) of every live provisioned environment."""
        return {
            (lease.key.function_arn, lease.provisioned_for)
            for lease in self._leases.values()
            if lease.provisioned_for is not None and not lease.retired
        }

    async def retire_leases(self, leases: list[Lease], reason: str) -> None:
        """Destroy these environments: idle ones now, busy ones when released."""
        async with self._lock:
            for lease in leases:
                lease.retired = True
            idle = [lease for lease in leases if lease.state is EnvState.IDLE]
        for lease in idle:
            await self._destroy(lease, reason)

    async def release(self, lease: Lease, reusable: bool, count: bool = True) -> None:
        lease.invocations += 1 if count else 0
        lease.last_used = self._clock()
        if not reusable or lease.retired:
            await self._destroy(lease, "poisoned" if not reusable else "retired")
            return
        if self.freeze_after_s <= 0 and not await self._freeze(lease):
            return
        async with self._lock:
            if lease.state is EnvState.DEAD:  # torn down meanwhile (the server stopping)
                return
            lease.transition(EnvState.IDLE)
        if self.freeze_after_s > 0:
            self._went_idle.set()

    # -- freezing idle environments -----------------------------------------------

    async def run_freezer(self) -> None:
        """The freezer loop: sleep until the first IDLE environment has idled for
        `freeze_after_s`, freeze what has, repeat; with none idle, wait for one."""
        while True:
            due = self._next_freeze()
            # One reading of the clock: read twice, the second may be past `due`, and
            # anyio.sleep refuses a negative delay (seen on a loaded machine).
            wait_s = None if due is None else due - self._clock()
            if wait_s is None:
                await self._went_idle.wait()
                self._went_idle = anyio.Event()
            elif wait_s > 0:
                await anyio.sleep(wait_s)
            else:
                try:
                    await self.freeze_idle()
                except Exception:
                    log.exception("freezer: pass failed")

    async def freeze_idle(self) -> int:
        """Freeze the IDLE environments idle for `freeze_after_s`; how many."""
        now = self._clock()
        async with self._lock:
            due = [lease for lease in self._leases.values() if self._freezable(lease, now)]
        frozen = 0
        for lease in due:
            frozen += await self._freeze(lease, since=lease.last_used)
        return frozen

    def _next_freeze(self) -> float | None:
        idle = [
            lease.last_used
            for lease in self._leases.values()
            if self._freezable(lease, float("inf"))
        ]
        return min(idle) + self.freeze_after_s if idle else None

    def _freezable(self, lease: Lease, now: float) -> bool:
        return (
            lease.state is EnvState.IDLE
            and not lease.environment.frozen
            and now - lease.last_used >= self.freeze_after_s
        )

    async def _freeze(self, lease: Lease, since: float | None = None) -> bool:
        """Freeze one environment; False when it failed (it is destroyed). With
        `since`, only while it is still idle since then (not taken meanwhile)."""

        def still_idle() -> bool:
            return since is None or (lease.state is EnvState.IDLE and lease.last_used == since)

        environment = lease.environment
        try:
            await (environment.freeze() if since is None else environment.freeze(still_idle))
        except Exception:
            log.exception("env %s: could not be frozen", lease.id)
            await self._destroy(lease, "freeze failed")
            return False
        return True

    # -- housekeeping ----------------------------------------------------------

    async def retire(self, function_arn: str, version: str | None = None) -> None:
        """Retire the function's environments: all of them, or those of one version."""
        async with self._lock:
            leases = [
                lease
                for lease in self._leases.values()
                if lease.key.function_arn == function_arn
                and (version is None or lease.key.version == version)
                and lease.provisioned_for is None
            ]
            for lease in leases:
                lease.retired = True
            idle = [lease for lease in leases if lease.state is EnvState.IDLE]
        for lease in idle:
            await self._destroy(lease, "function changed")

    async def reap(self) -> int:
        now = self._clock()
        async with self._lock:
            expired = [
                lease
                for lease in self._leases.values()
                if lease.state is EnvState.IDLE
                and (
                    (lease.provisioned_for is None and now - lease.last_used >= self.idle_timeout_s)
                    or self._too_old(lease, now)
                )
            ]
            for lease in expired:
                lease.transition(EnvState.DEAD)
        for lease in expired:
            await self._teardown(lease, "idle")
        return len(expired)

    def _too_old(self, lease: Lease, now: float) -> bool:
        return self.max_age_s is not None and now - lease.started_at >= self.max_age_s

    async def run_reaper(self, interval_s: float = 1.0) -> None:
        """The reaper loop: every `interval_s`, destroy what idled too long."""
        while True:
            await anyio.sleep(interval_s)
            try:
                reaped = await self.reap()
                if reaped:
                    log.info("reaper: destroyed %d idle environment(s)", reaped)
            except Exception:
                log.exception("reaper: pass failed")

    async def close(self) -> None:
        async with self._lock:
            leases = list(self._leases.values())
            for lease in leases:
                if lease.state is not EnvState.DEAD:
                    lease.state = EnvState.DEAD
        with anyio.CancelScope(shield=True):
            for lease in leases:
                await self._teardown(lease, "server stopping")

    def census(self) -> dict[tuple[str, str], int]:
        """Live environments by (function ARN, state): starting, busy, or frozen (idle
        between invocations, its processes stopped until the next one)."""
        found: dict[tuple[str, str], int] = {}
        for lease in list(self._leases.values()):
            if lease.state is EnvState.DEAD:
                continue
            state = "frozen" if lease.state is EnvState.IDLE else lease.state.value
            key = (lease.key.function_arn, state)
            found[key] = found.get(key, 0) + 1
        return found

    def count(self, function_arn: str | None = None) -> int:
        return sum(
            1
            for lease in self._leases.values()
            if function_arn is None or lease.key.function_arn == function_arn
        )

    async def _destroy(self, lease: Lease, reason: str) -> None:
        async with self._lock:
            if lease.state is EnvState.DEAD:
                return
            lease.transition(EnvState.DEAD)
        await self._teardown(lease, reason)

    async def _teardown(self, lease: Lease, reason: str) -> None:
        with anyio.CancelScope(shield=True):
            await lease.environment.destroy(reason)
        async with self._lock:
            self._leases.pop(lease.id, None)


def _suffix() -> str:
    import secrets

    return secrets.token_hex(4)
