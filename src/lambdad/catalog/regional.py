"""Parts of one region, and the same part for another region.

A request's region is its SigV4 credential scope's; every service that reads
or writes regional rows (functions, layers, log groups, and what hangs off
them) is made for the server's default region and hands out its twin for any
other region with `in_region`. The twin is a shallow copy whose `account`
names that region and whose regional parts (stores, the catalog, other
regional services) are those of that region; everything else (listeners,
caches of the server, the pool) is shared. Twins are made once per region and
kept, so identity-based state (listener lists) stays one.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Self

from lambdad.catalog.names import Account


class Regional:
    """A service of the region its `account` names (mixed into the service class)."""

    account: Account

    def in_region(self, region: str) -> Self:
        """This service for `region`'s functions."""
        twins: dict[str, Any] = self.__dict__.setdefault(
            "_twins", {self.account.region: self}
        )  # shared by every twin: the copies below copy the reference
        found = twins.get(region)
        if found is None:
            found = copy.copy(self)
            twins[region] = found  # before rebinding: parts may point back at this one
            found.account = dataclasses.replace(self.account, region=region)
            for name, part in vars(self).items():
                if name not in ("account", "_twins") and is_regional(part):
                    setattr(found, name, part.in_region(region))
        return found


def is_regional(part: object) -> bool:
    """Whether `part` has a twin per region (a regional service, store or catalog)."""
    return callable(getattr(part, "in_region", None))
