"""What an invoke needs from the catalog, kept in memory while it is valid.

A warm invoke should not pay two SQL round trips to learn what it learned a
moment ago. Entries are dropped when the catalog reports a change to the
function, and live at most `ttl_s` so that servers sharing one PostgreSQL
database see each other's changes soon. Only Active, Successful versions are
kept: anything else is re-read until it settles.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from lambdad.catalog import Catalog, FunctionRef, FunctionState, LastUpdateStatus, Version

Clock = Callable[[], float]


@dataclass(frozen=True)
class Resolved:
    version: Version
    reserved_concurrency: int | None


class VersionCache:
    def __init__(self, catalog: Catalog, ttl_s: float = 2.0, clock: Clock = time.monotonic):
        self.catalog = catalog
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: dict[tuple[str, str | None], tuple[float, Resolved]] = {}

    async def get(self, ref: FunctionRef) -> Resolved:
        key = (ref.name, ref.qualifier)
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and now - entry[0] < self.ttl_s:
            return entry[1]
        version = await self.catalog.get_version(ref)
        function = await self.catalog.get_function(ref.name)
        resolved = Resolved(version, function.reserved_concurrency)
        settled = (
            version.state is FunctionState.ACTIVE
            and version.last_update_status is LastUpdateStatus.SUCCESSFUL
        )
        if settled:
            self._entries[key] = (now, resolved)
        else:
            self._entries.pop(key, None)
        return resolved

    async def forget(self, function_name: str) -> None:
        """The catalog's change listener: drop every entry of the function."""
        for key in [k for k in self._entries if k[0] == function_name]:
            del self._entries[key]
