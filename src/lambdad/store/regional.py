"""Stores of one region: the base of every store whose rows are regional.

Functions, layers and log groups live in a region, and the region is the
first column of their keys (and of the keys of everything hanging off them).
A store is made for one region and puts it in every query it runs; the same
store of another region is `store.in_region(region)`, a cheap copy over the
same engine. Server-wide work (the async queue, retention sweeps) reads across
regions on purpose and says so.
"""

from __future__ import annotations

import copy
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy.engine import Engine

DEFAULT_REGION = "us-east-1"


class RegionalStore:
    def __init__(self, engine: Engine, region: str = DEFAULT_REGION) -> None:
        self.engine = engine
        self.region = region

    def in_region(self, region: str) -> Self:
        """This store for `region`'s rows."""
        if region == self.region:
            return self
        found = copy.copy(self)
        found.region = region
        return found

    def here(self, table: sa.Table) -> sa.ColumnElement[bool]:
        """`table`'s rows of this store's region."""
        return table.c.region == self.region

    def of_function(self, table: sa.Table, function_name: str) -> sa.ColumnElement[bool]:
        """`table`'s rows of one function of this region."""
        return sa.and_(table.c.region == self.region, table.c.function_name == function_name)


def fields_of(mapping: sa.RowMapping) -> dict[str, Any]:
    """A row's columns as its dataclass's fields: all but the region, which the store
    that read it already knows."""
    return {k: v for k, v in mapping.items() if k != "region"}
