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
- With no idle environment, `acquire` may wait in line for a busy one instead
  of cold-starting, when one is expected to free up sooner than a cold start
  would finish, for a bounded time (`pool/queueing.py` says the policy and why);
  `release` hands an environment straight to the longest waiter.

Concurrency: the pool runs on one event loop and no section of it awaits while
its state is half-changed, so the invocation path (`acquire` of an idle
environment, `release`) reads and changes it without a lock: a lock there cost
each invoke two trips through the event loop for nothing.
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
from lambdad.pool.queueing import Estimates, Lines, Waiter, expected_wait, wait_bound

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
    busy_since: float = 0.0
    """When its current invocation got it (how long invocations keep it busy)."""
    cpu_throttles: int = 0
    """Its sandbox's count of CPU-throttled periods when the line last looked at it."""
    cpu_looked_at: float = float("-inf")
    """When the line last looked (at most once per `CPU_LOOK_EVERY_S`)."""

    def transition(self, new: EnvState) -> None:
        if new not in _ALLOWED[self.state]:
            raise RuntimeError(f"env {self.id}: {self.state.value} -> {new.value} is not allowed")
        self.state = new


_ALLOWED = {
    EnvState.STARTING: {EnvState.BUSY, EnvState.DEAD},
    EnvState.IDLE: {EnvState.BUSY, EnvState.DEAD},
    EnvState.BUSY: {EnvState.IDLE, EnvState.DEAD},
    EnvState.DEAD: set(),
}


StartEnvironment = Callable[[Version, str, str], Awaitable[ExecutionEnvironment]]
"""(version, env_id, log_stream) -> a started environment (cold start)."""
QueueWaitListener = Callable[[Version, float], None]

CPU_LOOK_EVERY_S = 0.1
"""How often the line may look at a busy environment's CPU throttling: one CPU period
(`sandbox/cgroup.py`), the kernel's own grain."""
"""(version, seconds an invocation of it waited in line for a busy environment)"""


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
        queue_wait_max_s: float = 0.0,
    ) -> None:
        """`queue_wait_max_s`: the longest an invocation waits in line for a busy
        environment rather than cold-start one (0: never; see `pool/queueing.py`)."""
        self._start = start_environment
        self.queue_wait_max_s = queue_wait_max_s
        self.estimates = Estimates()
        self._lines = Lines()
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
        self._queue_wait_listeners: list[QueueWaitListener] = []

    def on_queue_wait(self, listener: QueueWaitListener) -> None:
        """Call `listener(version, seconds)` after each wait in line (served or not)."""
        self._queue_wait_listeners.append(listener)

    # -- the invocation path -------------------------------------------------

    async def acquire(
        self, version: Version, provisioned_for: str | None = None, may_queue: bool = True
    ) -> Lease:
        """An idle environment, a provisioned one first when `provisioned_for` names
        the qualifier; else, when `may_queue`, one a busy environment hands over if it
        is expected to sooner than a cold start (see `pool/queueing.py`); else a cold
        start (spill-over above provisioned runs on demand)."""
        key = PoolKey.of(version)
        now = self._clock()
        idle = self._idle_lease(key, provisioned_for, now)
        if idle is not None:
            idle.transition(EnvState.BUSY)
            idle.cold = False
            idle.busy_since = now
            return idle
        bound = self._queue_bound(version, key, now) if may_queue else None
        waiter = None if bound is None else self._lines.join(key)
        if waiter is not None and bound is not None:
            began = self._clock()
            handed = await self._wait_in_line(waiter, bound)
            for listener in self._queue_wait_listeners:
                listener(version, self._clock() - began)
            if handed is not None:
                return handed
        return await self._cold_start(version, key)

    def _idle_lease(self, key: PoolKey, provisioned_for: str | None, now: float) -> Lease | None:
        """The IDLE environment `acquire` hands out: one provisioned for `provisioned_for`
        when it names a qualifier, else an on-demand one; of those the most recently
        used (the most likely to be warm in caches)."""
        wanted: Lease | None = None
        on_demand: Lease | None = None
        for lease in self._leases.values():
            if (
                lease.state is not EnvState.IDLE
                or lease.retired
                or lease.key != key
                or self._too_old(lease, now)
            ):
                continue
            if lease.provisioned_for == provisioned_for:
                if wanted is None or lease.last_used > wanted.last_used:
                    wanted = lease
            elif lease.provisioned_for is None:
                if on_demand is None or lease.last_used > on_demand.last_used:
                    on_demand = lease
        return wanted or on_demand

    def _queue_bound(self, version: Version, key: PoolKey, now: float) -> float | None:
        """How long a new invocation of `version` waits in line; None: cold-start now."""
        if self.queue_wait_max_s <= 0:
            return None
        duration = self.estimates.duration(key.function_arn)
        cold_start = self.estimates.cold_start(key.function_arn)
        if duration is None or cold_start is None:
            return None  # nothing seen yet: scale out, as AWS does
        busy_for = [
            now - lease.busy_since
            for lease in self._leases.values()
            if self._serves(lease, key, now) and not self._out_of_cpu(lease, now)
        ]
        expected = expected_wait(busy_for, self._lines.length(key), duration)
        return wait_bound(expected, cold_start, self.queue_wait_max_s, version.config.timeout)

    def _serves(self, lease: Lease, key: PoolKey, now: float) -> bool:
        """Whether `lease` is a busy environment a waiter for `key` may be handed."""
        return (
            lease.key == key
            and lease.state is EnvState.BUSY
            and lease.provisioned_for is None
            and not lease.retired
            and not self._too_old(lease, now)
        )

    @staticmethod
    def _out_of_cpu(lease: Lease, now: float) -> bool:
        """Whether the kernel held `lease`'s environment back to its CPU share since the
        line last looked: more invocations queued on it would share that one share (7%
        of a core at 128 MB), where on Lambda each would have an environment's own.
        A look reads a cgroup file, so the line looks at most once per CPU period per
        environment: a burst of waiters scales out by one environment per throttled
        one and period, not one each."""
        if now - lease.cpu_looked_at < CPU_LOOK_EVERY_S:
            return False
        lease.cpu_looked_at = now
        seen = lease.environment.cpu_throttles()
        out, lease.cpu_throttles = seen > lease.cpu_throttles, seen
        return out

    async def _wait_in_line(self, waiter: Waiter, bound: float) -> Lease | None:
        """The environment handed to `waiter` within `bound` seconds, or None: cold-start
        (the bound passed, or the environment it waited for was destroyed)."""
        try:
            with anyio.move_on_after(bound):
                await waiter.served.wait()
        except BaseException:  # its caller is gone: what it was handed goes on
            with anyio.CancelScope(shield=True):
                lease = self._lines.leave(waiter)
                if lease is not None:
                    await self.release(lease, reusable=True, count=False)
            raise
        lease = self._lines.leave(waiter)
        if lease is not None:
            lease.cold = False
            lease.busy_since = self._clock()
        else:
            log.debug("pool: a waiter for %s cold-starts", waiter.key.function_arn)
        return lease

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
        began = self._clock()
        environment = await start(version, env_id, stream)
        self.estimates.started(version.function_arn, self._clock() - began)
        lease = Lease(
            id=env_id,
            key=PoolKey.of(version),
            environment=environment,
            log_stream=stream,
            cold=provisioned_for is None,
            provisioned_for=provisioned_for,
            last_used=self._clock(),
            started_at=self._clock(),
            busy_since=self._clock(),
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
        if self.release_nowait(lease, reusable, count):
            return
        now = self._tally(lease, count)
        # Whether it may serve the line (a provisioned one never does; one too old to
        # reuse idles until reaped): if not, the head of the line cold-starts instead.
        serves = lease.provisioned_for is None and not self._too_old(lease, now)
        if not reusable or lease.retired or not serves:
            self._pass_turn(lease)
        if not reusable or lease.retired:
            await self._destroy(lease, "poisoned" if not reusable else "retired")
            return
        # Straight to the longest waiter, if any: it runs at once, no freeze and thaw.
        if serves and self._lines.serve(lease.key, lease):
            return
        if self.freeze_after_s <= 0 and not await self._freeze(lease):
            return
        if lease.state is EnvState.DEAD:  # torn down meanwhile (the server stopping)
            return
        # A waiter may have come while it was freezing: it gets it (invoke thaws it).
        if serves and self._lines.serve(lease.key, lease):
            return
        lease.transition(EnvState.IDLE)
        if self.freeze_after_s > 0:
            self._went_idle.set()

    def release_nowait(self, lease: Lease, reusable: bool, count: bool = True) -> bool:
        """`release` when that needs no wait, as it mostly does (a reusable environment
        kept running for the next invocation, frozen later, or handed to a waiter): True
        when released; False when nothing was done (call `release`)."""
        if not reusable or lease.retired or self.freeze_after_s <= 0:
            return False
        now = self._tally(lease, count)
        if lease.provisioned_for is None and not self._too_old(lease, now):
            # Straight to the longest waiter, if any: it runs at once, no freeze and thaw.
            if self._lines.serve(lease.key, lease):
                return True
        else:
            self._pass_turn(lease)
        if lease.state is not EnvState.DEAD:  # else torn down meanwhile (the server stopping)
            lease.transition(EnvState.IDLE)
            self._went_idle.set()
        return True

    def _tally(self, lease: Lease, count: bool) -> float:
        """Note the end of a lease's use (an invocation, when `count`); the time now."""
        now = self._clock()
        if count:
            lease.invocations += 1
            self.estimates.invoked(lease.key.function_arn, now - lease.busy_since)
        lease.last_used = now
        return now

    def _pass_turn(self, lease: Lease) -> None:
        """`lease` serves no waiter: the head of its line cold-starts in its place."""
        if lease.provisioned_for is None:
            self._lines.serve(lease.key, None)

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
            if version is None:  # deleted: a new function of its name starts afresh
                self.estimates.forget(function_arn)
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
        self._lines.dismiss_all()
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

    def waiting(self, function_arn: str | None = None) -> int:
        """Invocations waiting in line for a busy environment (see `pool/queueing.py`)."""
        return self._lines.waiting(function_arn)

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
