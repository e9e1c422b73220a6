"""Rows of CreateFunctionUrlConfig: one per function + qualifier, unique URL id.

Deleted with the function (or its alias) by `FunctionStore` / `AliasStore`
(the table is in `PER_QUALIFIER`); every method is blocking, callers run it
through `run_sync`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from lambdad.store.database import map_db_errors
from lambdad.store.qualifier_rows import QualifierRows
from lambdad.store.regional import RegionalStore
from lambdad.store.schema import function_url_configs as table


@dataclass(frozen=True)
class FunctionUrlRow:
    function_name: str
    qualifier: str
    url_id: str
    auth_type: str
    cors: dict[str, Any] | None
    invoke_mode: str
    creation_time: float
    last_modified: float


class FunctionUrlStore(RegionalStore):
    @property
    def _rows(self) -> QualifierRows[FunctionUrlRow]:
        return QualifierRows(self.engine, table, FunctionUrlRow, self.region)

    def get(self, function_name: str, qualifier: str) -> FunctionUrlRow | None:
        return self._rows.get(function_name, qualifier)

    def by_url_id(self, url_id: str) -> FunctionUrlRow | None:
        """The URL of this region with that id (ids are unique on the server)."""
        return self._rows.first(table.c.url_id == url_id)

    def region_of(self, url_id: str) -> str | None:
        """The region whose URL has this id, of all regions (a path-based URL names none)."""
        query = sa.select(table.c.region).where(table.c.url_id == url_id)
        with map_db_errors(), self.engine.connect() as conn:
            region = conn.execute(query).scalar_one_or_none()
        return None if region is None else str(region)

    def list(self, function_name: str) -> list[FunctionUrlRow]:
        return self._rows.list(function_name)

    def create(self, row: FunctionUrlRow) -> bool:
        """Insert `row`; False if its function + qualifier already has a URL."""
        with map_db_errors():
            try:
                self._rows.insert(row)
            except sa.exc.IntegrityError:
                return False  # the qualifier's URL exists (or, astronomically, its id)
        return True

    def replace(self, row: FunctionUrlRow) -> bool:
        """Write `row` over its function + qualifier's row; False if there is none."""
        keys = ("function_name", "qualifier", "url_id", "creation_time")
        values = {k: v for k, v in row.__dict__.items() if k not in keys}
        key = self._rows.key(row.function_name, row.qualifier)
        query = sa.update(table).where(*key).values(**values)  # key: of this region
        with map_db_errors(), self.engine.begin() as conn:
            return conn.execute(query).rowcount == 1

    def delete(self, function_name: str, qualifier: str) -> bool:
        return self._rows.delete(function_name, qualifier)
