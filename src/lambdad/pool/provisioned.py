"""Provisioned concurrency: environments initialised ahead of traffic.

For every provisioned concurrency config (a published version or an alias with
a number), the provisioner keeps that many environments of the version it
runs, started with AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency and
waiting frozen in the pool. Its loop reads as a story:

    targets = what the configs ask for now
    drop the environments no config wants (config deleted, alias moved, function gone)
    start what is missing, a few at a time; trim what is over

It runs when a config or the function changes (`wake`) and every second, so an
environment destroyed after a failed invocation is replaced, and on server
start, so configs survive a restart. Status, as AWS reports it: IN_PROGRESS
until all requested environments are allocated, then READY; FAILED (with
StatusReason) when Init fails, until the config or the function changes.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from lambdad.background import log_failure, stopping
from lambdad.catalog import FunctionState, ProvisionedTarget
from lambdad.pool.pool import EnvironmentPool, EnvState, PoolKey

log = logging.getLogger(__name__)

Targets = Callable[[], Awaitable[list[ProvisionedTarget]]]

PARALLEL_STARTS = 4
INIT_FAILURE = "FUNCTION_ERROR_INIT_FAILURE"


class ProvisionedStatus(enum.Enum):
    IN_PROGRESS = "IN_PROGRESS"
    READY = "READY"
    FAILED = "FAILED"


@dataclass(frozen=True)
class Allocation:
    """What AWS reports of a config: its status and how much is allocated."""

    allocated: int
    available: int
    status: ProvisionedStatus
    status_reason: str | None = None


class Provisioner:
    def __init__(
        self,
        pool: EnvironmentPool,
        targets: Targets,
        interval_s: float = 1.0,
    ) -> None:
        self.pool = pool
        self._targets = targets
        self.interval_s = interval_s
        self._wake = anyio.Event()
        # By (function ARN, qualifier): the same name in two regions is two functions.
        self._failures: dict[tuple[str, str], tuple[object, str]] = {}
        self._lock = anyio.Lock()

    def allocation(self, function_arn: str, qualifier: str, requested: int) -> Allocation:
        allocated = min(requested, len(self.pool.provisioned(function_arn, qualifier)))
        failure = self._failures.get((function_arn, qualifier))
        if failure is not None and allocated < requested:
            return Allocation(allocated, allocated, ProvisionedStatus.FAILED, failure[1])
        if allocated >= requested:
            return Allocation(allocated, allocated, ProvisionedStatus.READY)
        return Allocation(allocated, allocated, ProvisionedStatus.IN_PROGRESS)

    async def wake(self, _function_name: str = "") -> None:
        """A change listener: reconcile soon."""
        self._wake.set()

    async def run(self) -> None:
        """The provisioner loop: reconcile, then sleep until woken or `interval_s`."""
        while True:
            try:
                await self.reconcile()
            except Exception:
                log_failure(log, "provisioner: pass failed")
            with anyio.move_on_after(self.interval_s):
                await self._wake.wait()
            self._wake = anyio.Event()

    async def reconcile(self) -> None:
        async with self._lock:
            targets = [t for t in await self._targets() if t.version.state is FunctionState.ACTIVE]
            await self._drop_unwanted(targets)
            starts: list[ProvisionedTarget] = []
            for target in targets:
                starts += await self._adjust(target)
            if starts:
                await self._start_all(starts)

    async def _drop_unwanted(self, targets: list[ProvisionedTarget]) -> None:
        wanted = {(t.version.function_arn, t.config.qualifier): t for t in targets}
        for function_arn, qualifier in self.pool.provisioned_keys():
            target = wanted.get((function_arn, qualifier))
            stale = [
                lease
                for lease in self.pool.provisioned(function_arn, qualifier)
                if target is None or lease.key != PoolKey.of(target.version)
            ]
            if stale:
                await self.pool.retire_leases(stale, "provisioned concurrency changed")
        for key in [k for k in self._failures if k not in wanted]:
            del self._failures[key]

    async def _adjust(self, target: ProvisionedTarget) -> list[ProvisionedTarget]:
        """Trims what is over; returns one entry per environment to start."""
        name, qualifier = target.version.function_arn, target.config.qualifier
        have = self.pool.provisioned(name, qualifier)
        extra = len(have) - target.config.requested
        if extra > 0:
            # Idle ones first; a busy one finishes its invocation before it goes.
            idle_first = sorted(have, key=lambda lease: lease.state is not EnvState.IDLE)
            await self.pool.retire_leases(idle_first[:extra], "provisioned concurrency lowered")
            return []
        failure = self._failures.get((name, qualifier))
        if failure is not None and failure[0] == _attempt_key(target):
            return []  # failed Init: wait for a change of the config or the function
        self._failures.pop((name, qualifier), None)
        return [target] * -extra

    async def _start_all(self, starts: list[ProvisionedTarget]) -> None:
        limit = anyio.Semaphore(PARALLEL_STARTS)

        async def start(target: ProvisionedTarget) -> None:
            async with limit:
                await self._start_one(target)

        async with anyio.create_task_group() as group:
            for target in starts:
                group.start_soon(start, target)

    async def _start_one(self, target: ProvisionedTarget) -> None:
        name, qualifier = target.version.function_arn, target.config.qualifier
        if (name, qualifier) in self._failures:
            return  # a sibling failed in this pass
        try:
            lease = await self.pool.provision(target.version, qualifier)
        except Exception as exc:
            if stopping():
                raise  # the server stops: not the function's failure
            log.exception("function %s:%s: provisioning failed", name, qualifier)
            self._failures[(name, qualifier)] = (_attempt_key(target), f"{INIT_FAILURE}: {exc}")
            return
        init_error = lease.environment.init_error
        if init_error is not None:
            log.warning("function %s:%s: Init failed (%s)", name, qualifier, init_error.error_type)
            self._failures[(name, qualifier)] = (_attempt_key(target), INIT_FAILURE)


def _attempt_key(target: ProvisionedTarget) -> object:
    """What must change before a failed provisioning is tried again."""
    return (target.config.last_modified, target.version.revision_id, target.version.code_key)
