"""The invoke path's version cache, over a fake catalog and a fake clock."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, cast

import anyio
import pytest

from lambdad.catalog import (
    Catalog,
    FunctionRef,
    LastUpdateStatus,
    Target,
    Version,
)
from lambdad.invoke import VersionCache
from support.catalog import make_version

pytestmark = pytest.mark.anyio


class FakeCatalog:
    def __init__(self, version: Version) -> None:
        self.version = version
        self.reads = 0

    async def resolve(self, ref: FunctionRef) -> Target:
        self.reads += 1
        return Target(ref=ref, arn=f"arn:fn:{ref.qualifier}", version=self.version)

    async def get_function(self, name: str) -> Any:
        return dataclasses.make_dataclass("F", ["reserved_concurrency"])(5)


def active(revision: str = "r1", **changes: Any) -> Version:
    return make_version("fn", revision, **changes)


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_settled_versions_are_served_from_memory_until_a_change() -> None:
    catalog, clock = FakeCatalog(active()), Clock()
    cache = VersionCache(cast(Catalog, catalog), ttl_s=2.0, clock=clock)
    ref = FunctionRef("fn")
    first = await cache.get(ref)
    assert (first.version.revision_id, first.reserved_concurrency) == ("r1", 5)
    await cache.get(ref)
    assert catalog.reads == 1

    catalog.version = active("r2")
    await cache.forget("fn")  # what the catalog's change listener does
    assert (await cache.get(ref)).version.revision_id == "r2"
    assert catalog.reads == 2


async def test_entries_expire_so_other_servers_changes_are_seen() -> None:
    catalog, clock = FakeCatalog(active()), Clock()
    cache = VersionCache(cast(Catalog, catalog), ttl_s=2.0, clock=clock)
    await cache.get(FunctionRef("fn"))
    clock.now = 2.5
    await cache.get(FunctionRef("fn"))
    assert catalog.reads == 2


async def test_unsettled_versions_are_never_cached() -> None:
    pending = active(last_update_status=LastUpdateStatus.IN_PROGRESS)
    catalog = FakeCatalog(pending)
    cache = VersionCache(cast(Catalog, catalog), clock=Clock())
    await cache.get(FunctionRef("fn"))
    await cache.get(FunctionRef("fn"))
    assert catalog.reads == 2


class WeightedCatalog(FakeCatalog):
    """An alias "live": version 1, with 10% of invocations routed to version 2."""

    async def resolve(self, ref: FunctionRef) -> Target:
        self.reads += 1
        one, two = active(version="1"), active(version="2")
        return Target(ref=ref, arn="arn:fn:live", version=one, routes=((two, 0.1),))


async def test_each_get_picks_a_version_by_the_alias_weights() -> None:
    draws = iter([0.05, 0.5, 0.0999, 0.1])
    catalog = WeightedCatalog(active())
    cache = VersionCache(cast(Catalog, catalog), clock=Clock(), draw=lambda: next(draws))
    picked = [(await cache.get(FunctionRef("fn", "live"))).version.version for _ in range(4)]
    assert picked == ["2", "1", "2", "1"]
    assert catalog.reads == 1  # the alias is resolved once, the dice roll per invoke


class GatedCatalog(FakeCatalog):
    """Each read waits at the gate until the test opens it (or fails, when told to)."""

    def __init__(self, version: Version) -> None:
        super().__init__(version)
        self.gate = anyio.Event()
        self.fail_next = False

    async def resolve(self, ref: FunctionRef) -> Target:
        self.reads += 1
        version, fail = self.version, self.fail_next  # what the catalog held as the read began
        self.fail_next = False
        await self.gate.wait()
        if fail:
            raise ConnectionError("the database went away")
        return Target(ref=ref, arn=f"arn:fn:{ref.qualifier}", version=version)


async def test_a_refill_is_read_once_for_everyone_asking_meanwhile() -> None:
    catalog = GatedCatalog(active())
    cache = VersionCache(cast(Catalog, catalog), clock=Clock())
    got: list[str] = []

    async def get() -> None:
        got.append((await cache.get(FunctionRef("fn"))).version.revision_id)

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(get)
        await wait_until(lambda: catalog.reads == 1)
        await anyio.wait_all_tasks_blocked()
        catalog.gate.set()
    assert got == ["r1"] * 4
    assert catalog.reads == 1


async def test_a_change_during_a_refill_is_never_hidden_by_it() -> None:
    catalog = GatedCatalog(active("r1"))
    cache = VersionCache(cast(Catalog, catalog), clock=Clock())
    got: dict[str, str] = {}

    async def get(who: str) -> None:
        got[who] = (await cache.get(FunctionRef("fn"))).version.revision_id

    async with anyio.create_task_group() as tg:
        tg.start_soon(get, "before")
        await wait_until(lambda: catalog.reads == 1)
        catalog.version = active("r2")
        await cache.forget("fn")  # the change lands while r1's read is under way
        tg.start_soon(get, "after")
        await wait_until(lambda: catalog.reads == 2)  # its own read, not the old one
        catalog.gate.set()
    assert got == {"before": "r1", "after": "r2"}
    assert (await cache.get(FunctionRef("fn"))).version.revision_id == "r2"
    assert catalog.reads == 2  # r2 was kept, r1 was not


async def test_those_waiting_on_a_failed_refill_read_themselves() -> None:
    catalog = GatedCatalog(active())
    catalog.fail_next = True
    cache = VersionCache(cast(Catalog, catalog), clock=Clock())
    outcomes: list[str] = []

    async def get() -> None:
        try:
            outcomes.append((await cache.get(FunctionRef("fn"))).version.revision_id)
        except ConnectionError:
            outcomes.append("failed")

    async with anyio.create_task_group() as tg:
        tg.start_soon(get)
        await wait_until(lambda: catalog.reads == 1)
        tg.start_soon(get)
        await anyio.wait_all_tasks_blocked()
        catalog.gate.set()
    assert sorted(outcomes) == ["failed", "r1"]
    assert catalog.reads == 2


async def wait_until(condition: Callable[[], bool]) -> None:
    with anyio.fail_after(5):
        while not condition():
            await anyio.sleep(0)
