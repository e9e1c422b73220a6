"""Rows of a function's concurrency settings: its reservation, provisioned
concurrency configs per qualifier, and its recursion config.

The reservation lives on the function's own row (`functions.reserved_concurrency`);
the others have tables of their own that go with a function's delete. A store
reads and writes its region's functions only.
Every method is blocking: callers run it through `run_sync`.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from lambdad.store.database import map_db_errors, reading
from lambdad.store.qualifier_rows import QualifierRows
from lambdad.store.regional import RegionalStore
from lambdad.store.schema import functions, provisioned_concurrency, recursion_configs


@dataclass(frozen=True)
class ProvisionedRow:
    function_name: str
    qualifier: str
    requested: int
    last_modified: float


class ConcurrencyStore(RegionalStore):
    @property
    def _provisioned(self) -> QualifierRows[ProvisionedRow]:
        return QualifierRows(self.engine, provisioned_concurrency, ProvisionedRow, self.region)

    # -- reserved concurrency (a column of the function) ------------------------

    def set_reserved(self, name: str, reserved: int | None) -> bool:
        """False when the function does not exist."""
        query = sa.update(functions).where(self.here(functions), functions.c.name == name)
        query = query.values(reserved_concurrency=reserved)
        with map_db_errors(), self.engine.begin() as conn:
            return conn.execute(query).rowcount == 1

    def reservations(self) -> dict[str, int]:
        """Every function's reservation in the region, by function name."""
        query = sa.select(functions.c.name, functions.c.reserved_concurrency).where(
            self.here(functions), functions.c.reserved_concurrency.is_not(None)
        )
        with map_db_errors(), self.engine.connect() as conn:
            return {str(r[0]): int(r[1]) for r in conn.execute(query)}

    # -- provisioned concurrency --------------------------------------------------

    def put_provisioned(self, row: ProvisionedRow) -> None:
        self._provisioned.put(row)

    def get_provisioned(self, name: str, qualifier: str) -> ProvisionedRow | None:
        return self._provisioned.get(name, qualifier)

    def delete_provisioned(self, name: str, qualifier: str) -> bool:
        return self._provisioned.delete(name, qualifier)

    def list_provisioned(self, name: str | None = None) -> list[ProvisionedRow]:
        """One function's configs, or every function's of the region (None), in a stable
        order."""
        return self._provisioned.list(name)

    # -- recursion ----------------------------------------------------------------

    def get_recursion(self, name: str) -> str | None:
        query = sa.select(recursion_configs.c.recursive_loop).where(
            self.of_function(recursion_configs, name)
        )
        with map_db_errors(), reading(self.engine) as conn:
            value = conn.execute(query).scalar_one_or_none()
        return None if value is None else str(value)

    def put_recursion(self, name: str, recursive_loop: str) -> None:
        table = recursion_configs
        with map_db_errors(), self.engine.begin() as conn:
            conn.execute(sa.delete(table).where(self.of_function(table, name)))
            conn.execute(
                sa.insert(table).values(
                    region=self.region, function_name=name, recursive_loop=recursive_loop
                )
            )
