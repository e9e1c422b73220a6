"""Rows of aliases, with compare-and-swap on RevisionId.

An alias belongs to a function of the store's region (its rows go when the
function goes, see `FunctionStore.delete_function`). `routing_config` is the alias's
AdditionalVersionWeights map ({"2": 0.1}) or None. Every method is blocking:
callers run it through `run_sync`.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lambdad.store.database import compare_and_swap, map_db_errors
from lambdad.store.regional import RegionalStore, fields_of
from lambdad.store.schema import PER_QUALIFIER, aliases, functions


@dataclass(frozen=True)
class AliasRow:
    function_name: str
    name: str
    function_version: str
    description: str
    routing_config: dict[str, float] | None
    revision_id: str

    def versions(self) -> set[str]:
        """Every version the alias routes to."""
        return {self.function_version, *(self.routing_config or {})}


class AliasStore(RegionalStore):
    def _alias(self, function_name: str, name: str) -> sa.ColumnElement[bool]:
        return sa.and_(self.of_function(aliases, function_name), aliases.c.name == name)

    def get(self, function_name: str, name: str) -> AliasRow | None:
        query = sa.select(aliases).where(self._alias(function_name, name))
        with map_db_errors(), self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _row(row._mapping)

    def list(self, function_name: str) -> list[AliasRow]:
        """The function's aliases in name order."""
        query = (
            sa.select(aliases)
            .where(self.of_function(aliases, function_name))
            .order_by(aliases.c.name)
        )
        with map_db_errors(), self.engine.connect() as conn:
            return [_row(r._mapping) for r in conn.execute(query)]

    def create(self, row: AliasRow) -> bool | None:
        """Insert `row`: False if the name is taken, None if the function is gone."""
        with map_db_errors():
            try:
                with self.engine.begin() as conn:
                    if not self._function_exists(conn, row.function_name):
                        return None
                    if self._exists(conn, row.function_name, row.name):
                        return False
                    conn.execute(sa.insert(aliases).values(**row.__dict__, region=self.region))
            except sa.exc.IntegrityError:
                return False  # a concurrent create of the same alias won
        return True

    def replace(self, row: AliasRow, expected_revision: str) -> bool:
        """Write `row` over its alias if that still has `expected_revision`."""
        keys = {"region": self.region, "function_name": row.function_name, "name": row.name}
        values = {k: v for k, v in row.__dict__.items() if k not in keys}
        return compare_and_swap(self.engine, aliases, keys, values, expected_revision)

    def delete(self, function_name: str, name: str) -> bool:
        """Delete an alias with its policy and event invoke config."""
        query = sa.delete(aliases).where(self._alias(function_name, name))
        with map_db_errors(), self.engine.begin() as conn:
            for table in PER_QUALIFIER:
                conn.execute(
                    sa.delete(table).where(
                        self.of_function(table, function_name), table.c.qualifier == name
                    )
                )
            return conn.execute(query).rowcount == 1

    def _exists(self, conn: Connection, function_name: str, name: str) -> bool:
        query = sa.select(aliases.c.name).where(self._alias(function_name, name))
        return conn.execute(query).first() is not None

    def _function_exists(self, conn: Connection, name: str) -> bool:
        query = sa.select(functions.c.name).where(self.here(functions), functions.c.name == name)
        return conn.execute(query).first() is not None


def aliases_of_version(
    conn: Connection, region: str, function_name: str, version: str
) -> list[str]:
    """Names of the aliases that route to `version` (inside the caller's transaction)."""
    query = sa.select(aliases).where(
        aliases.c.region == region, aliases.c.function_name == function_name
    )
    rows = [_row(r._mapping) for r in conn.execute(query)]
    return sorted(r.name for r in rows if version in r.versions())


def _row(mapping: sa.RowMapping) -> AliasRow:
    data = fields_of(mapping)
    weights = data.get("routing_config")
    data["routing_config"] = None if not weights else {str(k): float(v) for k, v in weights.items()}
    return AliasRow(**data)
