"""What an invoke needs from the catalog, kept in memory while it is valid.

A warm invoke should not pay SQL round trips to learn what it learned a moment
ago. Entries are resolved qualifiers (`catalog.Target`: a version, or an alias
with its one or two versions); each `get` then picks the version one
invocation runs, by the alias's weights. Entries are dropped when the catalog
reports a change to the function or its aliases, and live at most `ttl_s` so
that servers sharing one PostgreSQL database see each other's changes soon.
Only targets whose versions are all Active and Successful are kept: anything
else is re-read until it settles.

A refill is read once however many invocations ask meanwhile (single flight:
entries expire together under a steady stream, and each miss is several reads,
each a worker thread's turn): later askers wait for the read under way. A change
(`forget`) starts afresh: an invocation asking after it never gets, and the
cache never keeps, what a read begun before it found.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import anyio

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


class _Refill:
    """A read under way for one (name, qualifier), and its outcome once done."""

    __slots__ = ("done", "found")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.found: tuple[Target, Resolved] | None = None  # None: it failed


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
        self._refills: dict[tuple[str, str | None], _Refill] = {}
        """The reads under way, by key (single flight)."""

    async def get(self, ref: FunctionRef) -> Resolved:
        key = (ref.name, ref.qualifier)
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and now - entry[0] < self.ttl_s:
            _, target, resolved = entry
        else:
            target, resolved = await self._refill(ref, key, now)
        version = target.pick(self._draw())
        # Immutable: the same one serves every invocation of the version (most are).
        return resolved if version is resolved.version else replace(resolved, version=version)

    async def _refill(
        self, ref: FunctionRef, key: tuple[str, str | None], now: float
    ) -> tuple[Target, Resolved]:
        """The catalog's answer for `key`: read now, or by the read already under way."""
        refill = self._refills.get(key)
        if refill is not None:
            await refill.done.wait()
            if refill.found is not None:
                return refill.found
            # That read failed (or its invocation was cancelled): this one reads itself.
        refill = self._refills[key] = _Refill()
        try:
            found = refill.found = await self._read(ref)
        finally:
            if self._refills.get(key) is refill:  # not forgotten meanwhile
                del self._refills[key]
                if refill.found is not None and self._settled(refill.found[0]):
                    self._entries[key] = (now, *refill.found)
                else:
                    self._entries.pop(key, None)
            refill.done.set()
        return found

    async def _read(self, ref: FunctionRef) -> tuple[Target, Resolved]:
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
        return target, resolved

    @staticmethod
    def _settled(target: Target) -> bool:
        return all(_settled(v) for v in (target.version, *(v for v, _ in target.routes)))

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
        """The catalog's change listener: drop every entry of the function, and the
        reads under way for it (those who wait get their answer; nobody else does)."""
        for key in [k for k in self._entries if k[0] == function_name]:
            del self._entries[key]
        for key in [k for k in self._refills if k[0] == function_name]:
            del self._refills[key]


def _settled(version: Version) -> bool:
    return version.state is FunctionState.ACTIVE and version.last_update_status in (
        None,  # a published version never has one
        LastUpdateStatus.SUCCESSFUL,
    )
