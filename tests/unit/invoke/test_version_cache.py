"""The invoke path's version cache, over a fake catalog and a fake clock."""

from __future__ import annotations

import dataclasses
from typing import Any, cast

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
