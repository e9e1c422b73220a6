"""What an invoke needs from the catalog, kept in memory while it is valid.

A warm invoke should not pay SQL round trips to learn what it learned a moment
ago. Entries are resolved qualifiers (`catalog.Target`: a version, or an alias
with its one or two versions); each `get` then picks the version one
invocation runs, by the alias's weights. Entries are dropped when the catalog
reports a change to the function or its aliases, and live at most `ttl_s` so
that servers sharing one PostgreSQL database see each other's changes soon.
Only targets whose versions are all Active and Successful are kept: anything
else is re-read until it settles.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from lambdad.catalog import (
    Catalog,
    ConcurrencyCatalog,
    FunctionRef,
    FunctionState,
    LastUpdateStatus,
    Target,
    Version,
)
from lambdad.invoke.concurrency import Provisioned

Clock = Callable[[], float]
Draw = Callable[[], float]
"""A uniform number in [0, 1): the dice of weighted alias routing."""


@dataclass(frozen=True)
class Resolved:
    """One invocation's target: the version it runs, chosen by the alias's weights."""

    version: Version
    reserved_concurrency: int | None
    qualifier: str | None = None
    """The qualifier as requested (an alias name, a version, $LATEST or None)."""
    invoked_arn: str | None = None
    """The ARN the function was invoked by (the context's invoked_function_arn)."""
    provisioned: Provisioned | None = None
    """The provisioned concurrency of the qualifier invoked (version or alias)."""
    recursive_loop: str = "Terminate"


@dataclass(frozen=True)
class _Settings:
    """The function's concurrency settings an invoke of one qualifier needs."""

    reserved: int | None
    provisioned: Provisioned | None = None
    recursive_loop: str = "Terminate"


class VersionCache:
    def __init__(
        self,
        catalog: Catalog,
        ttl_s: float = 2.0,
        clock: Clock = time.monotonic,
        draw: Draw = random.random,
        concurrency: ConcurrencyCatalog | None = None,
    ):
        self.catalog = catalog
        self.concurrency = concurrency
        self.ttl_s = ttl_s
        self._clock = clock
        self._draw = draw
        self._entries: dict[tuple[str, str | None], tuple[float, Target, Resolved]] = {}
        """(when read, the target, its Resolved for the target's own version)"""

    async def get(self, ref: FunctionRef) -> Resolved:
        key = (ref.name, ref.qualifier)
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and now - entry[0] < self.ttl_s:
            _, target, resolved = entry
        else:
            target = await self.catalog.resolve(ref)
            settings = await self._settings(ref)
            resolved = Resolved(
                version=target.version,
                reserved_concurrency=settings.reserved,
                qualifier=ref.qualifier,
                invoked_arn=target.arn,
                provisioned=settings.provisioned,
                recursive_loop=settings.recursive_loop,
            )
            if all(_settled(v) for v in (target.version, *(v for v, _ in target.routes))):
                self._entries[key] = (now, target, resolved)
            else:
                self._entries.pop(key, None)
        version = target.pick(self._draw())
        # Immutable: the same one serves every invocation of the version (most are).
        return resolved if version is resolved.version else replace(resolved, version=version)

    async def _settings(self, ref: FunctionRef) -> _Settings:
        function = await self.catalog.get_function(ref.name)
        if self.concurrency is None:
            return _Settings(function.reserved_concurrency)
        provisioned = await self.concurrency.provisioned_for(ref.name, ref.qualifier)
        return _Settings(
            function.reserved_concurrency,
            Provisioned(str(ref.qualifier), provisioned) if provisioned else None,
            await self.concurrency.recursion_of(ref.name),
        )

    async def forget(self, function_name: str) -> None:
        """The catalog's change listener: drop every entry of the function."""
        for key in [k for k in self._entries if k[0] == function_name]:
            del self._entries[key]


def _settled(version: Version) -> bool:
    return version.state is FunctionState.ACTIVE and version.last_update_status in (
        None,  # a published version never has one
        LastUpdateStatus.SUCCESSFUL,
    )
