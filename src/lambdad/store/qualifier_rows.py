"""A table of one row per function + qualifier, read and written as dataclass rows.

Event invoke configs, function URL configs and provisioned concurrency configs
are each such a table (columns `region`, `function_name` and `qualifier` are
the key); their stores share these queries, each for its own region. Every
method is blocking: callers run it through `run_sync`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lambdad.store.database import map_db_errors, reading
from lambdad.store.regional import DEFAULT_REGION, RegionalStore, fields_of

R = TypeVar("R")


class QualifierRows(RegionalStore, Generic[R]):
    def __init__(
        self,
        engine: Engine,
        table: sa.Table,
        row_type: Callable[..., R],
        region: str = DEFAULT_REGION,
    ) -> None:
        super().__init__(engine, region)
        self.table = table
        self.row_type = row_type

    def key(self, function_name: str, qualifier: str) -> tuple[sa.ColumnElement[bool], ...]:
        return (self.of_function(self.table, function_name), self.table.c.qualifier == qualifier)

    def get(self, function_name: str, qualifier: str) -> R | None:
        return self.first(*self.key(function_name, qualifier))

    def first(self, *where: sa.ColumnElement[bool]) -> R | None:
        """The first row of this region that matches `where`."""
        query = sa.select(self.table).where(self.here(self.table), *where)
        with map_db_errors(), reading(self.engine) as conn:
            row = conn.execute(query).first()
        return None if row is None else self.row_type(**fields_of(row._mapping))

    def list(self, function_name: str | None) -> list[R]:
        """One function's rows, or every function's of the region (None), by function
        then qualifier."""
        query = (
            sa.select(self.table)
            .where(self.here(self.table))
            .order_by(self.table.c.function_name, self.table.c.qualifier)
        )
        if function_name is not None:
            query = query.where(self.table.c.function_name == function_name)
        with map_db_errors(), self.engine.connect() as conn:
            return [self.row_type(**fields_of(r._mapping)) for r in conn.execute(query)]

    def put(self, row: R) -> None:
        """Insert `row`, replacing the row of its function + qualifier if there is one."""
        values: dict[str, Any] = dict(vars(row))
        key = self.key(values["function_name"], values["qualifier"])
        with map_db_errors(), self.engine.begin() as conn:
            conn.execute(sa.delete(self.table).where(*key))
            conn.execute(sa.insert(self.table).values(**values, region=self.region))

    def insert(self, row: R) -> None:
        """Insert `row` (IntegrityError, mapped by the caller, when its key is taken)."""
        with self.engine.begin() as conn:
            conn.execute(sa.insert(self.table).values(**vars(row), region=self.region))

    def delete(self, function_name: str, qualifier: str) -> bool:
        """False when there was no such row."""
        query = sa.delete(self.table).where(*self.key(function_name, qualifier))
        with map_db_errors(), self.engine.begin() as conn:
            return conn.execute(query).rowcount == 1
