"""Rows of functions and their versions, with compare-and-swap on RevisionId.

The store speaks rows (`FunctionRow`, `VersionRow`); `catalog/` gives them
meaning. A store sees the functions of one region (`in_region` for another's);
names are unique on the server. Every method is blocking: callers run it
through `run_sync`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lambdad.store.aliases import aliases_of_version
from lambdad.store.database import compare_and_swap, map_db_errors
from lambdad.store.layers import blob_referenced
from lambdad.store.schema import PER_QUALIFIER, aliases, function_versions, functions

LATEST = "$LATEST"
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class FunctionRow:
    name: str
    created_at: float
    tags: dict[str, str]
    next_version: int
    reserved_concurrency: int | None


@dataclass(frozen=True)
class VersionRow:
    function_name: str
    version: str
    revision_id: str
    code_sha256: str
    code_size: int
    config: dict[str, Any]
    last_modified: float


class FunctionStore:
    def __init__(self, engine: Engine, region: str = DEFAULT_REGION) -> None:
        self.engine = engine
        self.region = region

    def in_region(self, region: str) -> FunctionStore:
        return FunctionStore(self.engine, region)

    def claim_unplaced(self) -> int:
        """Functions of a lambdad older than regions become this (the default) region's."""
        query = sa.update(functions).where(functions.c.region.is_(None)).values(region=self.region)
        with map_db_errors(), self.engine.begin() as conn:
            return int(conn.execute(query).rowcount)

    def regions(self) -> list[str]:
        """Every region that has functions on this server (and this store's)."""
        query = sa.select(functions.c.region).where(functions.c.region.is_not(None)).distinct()
        with map_db_errors(), self.engine.connect() as conn:
            return sorted({str(r[0]) for r in conn.execute(query)} | {self.region})

    def _here(self) -> Any:
        """The functions of this store's region."""
        return functions.c.region == self.region

    def _names_here(self) -> Any:
        """Names of this region's functions (to scope version queries)."""
        return sa.select(functions.c.name).where(self._here())

    # -- reads -----------------------------------------------------------

    def get_function(self, name: str) -> FunctionRow | None:
        with map_db_errors(), self.engine.connect() as conn:
            query = sa.select(functions).where(functions.c.name == name, self._here())
            row = conn.execute(query).first()
        return None if row is None else _function_row(row)

    def get_version(self, name: str, version: str) -> VersionRow | None:
        query = sa.select(function_versions).where(
            function_versions.c.function_name == name,
            function_versions.c.version == version,
            function_versions.c.function_name.in_(self._names_here()),
        )
        with map_db_errors(), self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else VersionRow(**row._mapping)

    def list_versions(self, name: str) -> list[VersionRow]:
        query = sa.select(function_versions).where(
            function_versions.c.function_name == name,
            function_versions.c.function_name.in_(self._names_here()),
        )
        with map_db_errors(), self.engine.connect() as conn:
            rows = [VersionRow(**r._mapping) for r in conn.execute(query)]
        return sorted(rows, key=_version_order)

    def list_functions(
        self, after: str | None, limit: int, all_versions: bool = False
    ) -> list[VersionRow]:
        """Versions in name order starting after the function named `after`.

        Only `$LATEST` rows unless `all_versions`; `limit` counts functions.
        """
        names_query = (
            sa.select(functions.c.name).where(self._here()).order_by(functions.c.name).limit(limit)
        )
        if after is not None:
            names_query = names_query.where(functions.c.name > after)
        with map_db_errors(), self.engine.connect() as conn:
            names = [r[0] for r in conn.execute(names_query)]
            if not names:
                return []
            query = sa.select(function_versions).where(function_versions.c.function_name.in_(names))
            if not all_versions:
                query = query.where(function_versions.c.version == LATEST)
            rows = [VersionRow(**r._mapping) for r in conn.execute(query)]
        return sorted(rows, key=lambda r: (r.function_name, *_version_order(r)))

    def count_functions(self) -> int:
        with map_db_errors(), self.engine.connect() as conn:
            query = sa.select(sa.func.count()).select_from(functions).where(self._here())
            return int(conn.execute(query).scalar_one())

    def code_size_total(self) -> int:
        """Bytes of code stored, counting each distinct zip once per function version."""
        query = sa.select(sa.func.coalesce(sa.func.sum(function_versions.c.code_size), 0)).where(
            function_versions.c.function_name.in_(self._names_here())
        )
        with map_db_errors(), self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def blob_in_use(self, code_sha256: str) -> bool:
        """Whether any function version or layer version still needs this blob."""
        with map_db_errors(), self.engine.connect() as conn:
            return blob_referenced(conn, code_sha256)

    # -- writes ----------------------------------------------------------

    def create_function(self, function: FunctionRow, latest: VersionRow) -> bool:
        """Insert a function with its $LATEST; False if the name is taken."""
        with map_db_errors():
            try:
                with self.engine.begin() as conn:
                    exists = conn.execute(
                        sa.select(functions.c.name).where(functions.c.name == function.name)
                    ).first()
                    if exists is not None:
                        return False
                    conn.execute(
                        sa.insert(functions).values(**function.__dict__, region=self.region)
                    )
                    conn.execute(sa.insert(function_versions).values(**latest.__dict__))
            except sa.exc.IntegrityError:
                # A concurrent create of the same name won between check and insert.
                return False
        return True

    def replace_version(self, row: VersionRow, expected_revision: str) -> bool:
        """Write `row` over its version if that still has `expected_revision`."""
        keys = {"function_name": row.function_name, "version": row.version}
        values = {k: v for k, v in row.__dict__.items() if k not in keys}
        return compare_and_swap(self.engine, function_versions, keys, values, expected_revision)

    def publish_version(
        self, latest: VersionRow, expected_revision: str, build: Any
    ) -> VersionRow | None:
        """Allocate the next version number and insert `build(number)` atomically.

        Returns None when $LATEST no longer has `expected_revision`.
        """
        with map_db_errors(), self.engine.begin() as conn:
            # Lock the function row first so concurrent publishes take turns
            # (SQLite's BEGIN IMMEDIATE already serializes writers).
            conn.execute(
                sa.select(functions.c.next_version)
                .where(functions.c.name == latest.function_name)
                .with_for_update()
            )
            current = conn.execute(
                sa.select(function_versions.c.revision_id).where(
                    function_versions.c.function_name == latest.function_name,
                    function_versions.c.version == LATEST,
                )
            ).scalar_one_or_none()
            if current != expected_revision:
                return None
            number = conn.execute(
                sa.select(functions.c.next_version).where(functions.c.name == latest.function_name)
            ).scalar_one()
            conn.execute(
                sa.update(functions)
                .where(functions.c.name == latest.function_name)
                .values(next_version=number + 1)
            )
            row: VersionRow = build(number)
            conn.execute(sa.insert(function_versions).values(**row.__dict__))
        return row

    def set_tags(self, name: str, tags: dict[str, str]) -> None:
        with map_db_errors(), self.engine.begin() as conn:
            conn.execute(sa.update(functions).where(functions.c.name == name).values(tags=tags))

    def delete_function(self, name: str) -> list[VersionRow]:
        """Delete a function with everything hanging off it; returns its versions."""
        with map_db_errors(), self.engine.begin() as conn:
            rows = [
                VersionRow(**r._mapping)
                for r in conn.execute(
                    sa.select(function_versions).where(function_versions.c.function_name == name)
                )
            ]
            for table in (function_versions, aliases, *PER_QUALIFIER):
                conn.execute(sa.delete(table).where(table.c.function_name == name))
            conn.execute(sa.delete(functions).where(functions.c.name == name))
        return rows

    def delete_version(self, name: str, version: str) -> VersionRow | list[str] | None:
        """Delete one published version with its policies.

        Returns the deleted row, None if there was no such version, or the
        names of the aliases that route to it (then nothing is deleted).
        """
        with map_db_errors(), self.engine.begin() as conn:
            referenced = aliases_of_version(conn, name, version)
            if referenced:
                return referenced
            where = (
                function_versions.c.function_name == name,
                function_versions.c.version == version,
            )
            row = conn.execute(sa.select(function_versions).where(*where)).first()
            if row is None:
                return None
            conn.execute(sa.delete(function_versions).where(*where))
            for table in PER_QUALIFIER:
                conn.execute(
                    sa.delete(table).where(
                        table.c.function_name == name, table.c.qualifier == version
                    )
                )
        return VersionRow(**row._mapping)


def _function_row(row: sa.Row[Any]) -> FunctionRow:
    return FunctionRow(**{k: v for k, v in row._mapping.items() if k != "region"})


def _version_order(row: VersionRow) -> tuple[int, ...]:
    return (0,) if row.version == LATEST else (1, int(row.version))
