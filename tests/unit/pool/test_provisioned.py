"""The provisioner keeps each config's environments, with fake environments."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace
from typing import Any, cast

import pytest

from lambdad.catalog import ProvisionedTarget, Version
from lambdad.pool import (
    EnvironmentPool,
    ExecutionEnvironment,
    ProvisionedStatus,
    Provisioner,
)
from lambdad.store import ProvisionedRow
from support.catalog import make_version

pytestmark = pytest.mark.anyio

FN = "arn:aws:lambda:us-east-1:000000000000:function:fn"  # pools name functions by ARN


class FakeEnvironment:
    def __init__(self, kind: str, fail: bool) -> None:
        self.kind = kind
        self.init_duration_ms = 1.0
        self.from_snapshot = False
        self.backend_name = "fake"
        self.init_error: Any = SimpleNamespace(error_type="Runtime.ExitError") if fail else None
        self.init_logs = b""
        self.destroyed: str | None = None

    async def freeze(self) -> None:
        pass

    async def destroy(self, reason: str) -> None:
        self.destroyed = reason


class World:
    def __init__(self) -> None:
        self.version = make_version("fn", version="1")
        self.targets: list[ProvisionedTarget] = []
        self.started: list[FakeEnvironment] = []
        self.fail = False

        async def start(kind: str, v: Version, env_id: str, stream: str) -> ExecutionEnvironment:
            env = FakeEnvironment(kind, self.fail)
            self.started.append(env)
            return cast(ExecutionEnvironment, env)

        self.pool = EnvironmentPool(
            lambda *a: start("on-demand", *a),
            lambda v: f"stream-{v}",
            60.0,
            start_provisioned=lambda *a: start("provisioned", *a),
        )

        async def targets() -> list[ProvisionedTarget]:
            return self.targets

        self.provisioner = Provisioner(self.pool, targets)

    def want(self, count: int, modified: float = 1.0) -> None:
        row = ProvisionedRow("fn", "live", count, modified)
        self.targets = [ProvisionedTarget(row, self.version)] if count else []

    def status(self, requested: int) -> ProvisionedStatus:
        return self.provisioner.allocation(FN, "live", requested).status


async def test_configs_get_their_environments_and_invokes_use_them_first() -> None:
    world = World()
    world.want(2)
    assert world.status(2) is ProvisionedStatus.IN_PROGRESS
    await world.provisioner.reconcile()
    assert world.status(2) is ProvisionedStatus.READY
    assert [e.kind for e in world.started] == ["provisioned", "provisioned"]

    lease = await world.pool.acquire(world.version, provisioned_for="live")
    assert lease.provisioned_for == "live" and not lease.cold
    other = await world.pool.acquire(world.version)  # on demand: never a provisioned one
    assert other.provisioned_for is None and other.cold
    await world.pool.release(lease, reusable=False)  # poisoned: replaced on the next pass
    assert world.status(2) is ProvisionedStatus.IN_PROGRESS
    await world.provisioner.reconcile()
    assert world.status(2) is ProvisionedStatus.READY


async def test_lowered_or_deleted_configs_drop_their_environments() -> None:
    world = World()
    world.want(3)
    await world.provisioner.reconcile()
    world.want(1)
    await world.provisioner.reconcile()
    assert len(world.pool.provisioned(FN, "live")) == 1
    world.want(0)
    await world.provisioner.reconcile()
    assert world.pool.provisioned(FN, "live") == []
    assert sum(1 for e in world.started if e.destroyed) == 3


async def test_an_alias_moved_to_another_version_gets_new_environments() -> None:
    world = World()
    world.want(1)
    await world.provisioner.reconcile()
    world.version = dataclasses.replace(world.version, version="2", revision_id="r2")
    world.want(1)
    await world.provisioner.reconcile()
    [lease] = world.pool.provisioned(FN, "live")
    assert lease.key.version == "2"
    assert world.started[0].destroyed is not None


async def test_a_failing_init_is_failed_until_the_config_changes() -> None:
    world = World()
    world.fail = True
    world.want(1)
    await world.provisioner.reconcile()
    allocation = world.provisioner.allocation(FN, "live", 1)
    assert allocation.status is ProvisionedStatus.FAILED
    assert allocation.status_reason == "FUNCTION_ERROR_INIT_FAILURE"
    await world.provisioner.reconcile()
    assert len(world.started) == 1  # not retried in a loop
    world.fail = False
    world.want(1, modified=2.0)
    await world.provisioner.reconcile()
    assert world.status(1) is ProvisionedStatus.READY
