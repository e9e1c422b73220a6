"""Rows of functions and their versions, with compare-and-swap on RevisionId.

The store speaks rows (`FunctionRow`, `VersionRow`); `catalog/` gives them
meaning. A store sees the functions of one region (`in_region` for another's):
the same name may live in every region. Every method is blocking: callers
run it through `run_sync`.

Environment variables are secrets at rest: with a `Sealer` (the server key,
`iam/server_key.py`) a version's variables are stored sealed, bound to the
function's region and name, in its config's `environment_sealed`; rows never
hold them in the clear, and rows read back hold them opened. Rows written
before sealing are sealed by `seal_environments` when the server starts.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, replace
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lambdad.store.aliases import aliases_of_version
from lambdad.store.database import compare_and_swap, map_db_errors, reading
from lambdad.store.layers import blob_referenced
from lambdad.store.regional import DEFAULT_REGION, RegionalStore, fields_of
from lambdad.store.schema import (
    PER_FUNCTION,
    PER_QUALIFIER,
    aliases,
    function_versions,
    functions,
)

LATEST = "$LATEST"
SEALED_ENVIRONMENT = "environment_sealed"


class Sealer(Protocol):
    def seal(self, plaintext: bytes, context: bytes) -> bytes: ...

    def open(self, sealed: bytes, context: bytes) -> bytes: ...


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


class FunctionStore(RegionalStore):
    def __init__(
        self, engine: Engine, region: str = DEFAULT_REGION, sealer: Sealer | None = None
    ) -> None:
        super().__init__(engine, region)
        self.sealer = sealer

    # -- environment variables at rest -------------------------------------

    def _opened(self, row: Any) -> VersionRow:
        """A version read from the database, its environment opened."""
        version = VersionRow(**fields_of(row._mapping))
        sealed = version.config.get(SEALED_ENVIRONMENT)
        if sealed is None:
            return version
        if self.sealer is None:
            raise ValueError("a sealed environment needs the server key to open")
        context = _context(self.region, version.function_name)
        opened = self.sealer.open(base64.b64decode(sealed), context)
        config = {k: v for k, v in version.config.items() if k != SEALED_ENVIRONMENT}
        config["environment"] = json.loads(opened)
        return replace(version, config=config)

    def _sealed(self, version: VersionRow) -> dict[str, Any]:
        """The column values of a version to write (with its region), its environment sealed."""
        values = {**version.__dict__, "region": self.region}
        environment = version.config.get("environment")
        if self.sealer is None or not environment:
            return values
        context = _context(self.region, version.function_name)
        sealed = self.sealer.seal(json.dumps(environment).encode(), context)
        values["config"] = {
            **version.config,
            "environment": {},
            SEALED_ENVIRONMENT: base64.b64encode(sealed).decode(),
        }
        return values

    def seal_environments(self) -> int:
        """Seal the variables of versions written before sealing, in every region; how
        many there were."""
        if self.sealer is None:
            return 0
        sealed = 0
        with map_db_errors(), self.engine.begin() as conn:
            for row in conn.execute(sa.select(function_versions)).all():
                region = row._mapping["region"]
                version = VersionRow(**fields_of(row._mapping))
                if version.config.get("environment") and SEALED_ENVIRONMENT not in version.config:
                    store = self.in_region(region)
                    conn.execute(
                        sa.update(function_versions)
                        .where(store._version(version.function_name, version.version))
                        .values(config=store._sealed(version)["config"])
                    )
                    sealed += 1
        return sealed

    def regions(self) -> list[str]:
        """Every region that has functions on this server (and this store's)."""
        query = sa.select(functions.c.region).distinct()
        with map_db_errors(), reading(self.engine) as conn:
            return sorted({str(r[0]) for r in conn.execute(query)} | {self.region})

    def _function(self, name: str) -> sa.ColumnElement[bool]:
        return sa.and_(functions.c.region == self.region, functions.c.name == name)

    def _version(self, name: str, version: str) -> sa.ColumnElement[bool]:
        return sa.and_(
            self.of_function(function_versions, name), function_versions.c.version == version
        )

    # -- reads -----------------------------------------------------------

    def get_function(self, name: str) -> FunctionRow | None:
        with map_db_errors(), reading(self.engine) as conn:
            row = conn.execute(sa.select(functions).where(self._function(name))).first()
        return None if row is None else _function_row(row)

    def get_version(self, name: str, version: str) -> VersionRow | None:
        query = sa.select(function_versions).where(self._version(name, version))
        with map_db_errors(), reading(self.engine) as conn:
            row = conn.execute(query).first()
        return None if row is None else self._opened(row)

    def list_versions(self, name: str) -> list[VersionRow]:
        query = sa.select(function_versions).where(self.of_function(function_versions, name))
        with map_db_errors(), self.engine.connect() as conn:
            rows = [self._opened(r) for r in conn.execute(query)]
        return sorted(rows, key=_version_order)

    def list_functions(
        self, after: str | None, limit: int, all_versions: bool = False
    ) -> list[VersionRow]:
        """Versions in name order starting after the function named `after`.

        Only `$LATEST` rows unless `all_versions`; `limit` counts functions.
        """
        names_query = (
            sa.select(functions.c.name)
            .where(self.here(functions))
            .order_by(functions.c.name)
            .limit(limit)
        )
        if after is not None:
            names_query = names_query.where(functions.c.name > after)
        with map_db_errors(), self.engine.connect() as conn:
            names = [r[0] for r in conn.execute(names_query)]
            if not names:
                return []
            query = sa.select(function_versions).where(
                self.here(function_versions), function_versions.c.function_name.in_(names)
            )
            if not all_versions:
                query = query.where(function_versions.c.version == LATEST)
            rows = [self._opened(r) for r in conn.execute(query)]
        return sorted(rows, key=lambda r: (r.function_name, *_version_order(r)))

    def count_functions(self) -> int:
        with map_db_errors(), self.engine.connect() as conn:
            query = sa.select(sa.func.count()).select_from(functions).where(self.here(functions))
            return int(conn.execute(query).scalar_one())

    def code_size_total(self) -> int:
        """Bytes of code stored, counting each distinct zip once per function version."""
        query = sa.select(sa.func.coalesce(sa.func.sum(function_versions.c.code_size), 0)).where(
            self.here(function_versions)
        )
        with map_db_errors(), self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def using_code(self, code_sha256: str) -> list[tuple[str, str, str]]:
        """(region, function name, version) of every version of every region whose code
        is `code_sha256` (a container image's digest hex, for an Image function)."""
        columns = (
            function_versions.c.region,
            function_versions.c.function_name,
            function_versions.c.version,
        )
        query = sa.select(*columns).where(function_versions.c.code_sha256 == code_sha256)
        with map_db_errors(), self.engine.connect() as conn:
            return sorted((r.region, r.function_name, r.version) for r in conn.execute(query))

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
                        sa.select(functions.c.name).where(self._function(function.name))
                    ).first()
                    if exists is not None:
                        return False
                    conn.execute(
                        sa.insert(functions).values(**function.__dict__, region=self.region)
                    )
                    conn.execute(sa.insert(function_versions).values(**self._sealed(latest)))
            except sa.exc.IntegrityError:
                # A concurrent create of the same name won between check and insert.
                return False
        return True

    def replace_version(self, row: VersionRow, expected_revision: str) -> bool:
        """Write `row` over its version if that still has `expected_revision`."""
        keys = {"region": self.region, "function_name": row.function_name, "version": row.version}
        values = {k: v for k, v in self._sealed(row).items() if k not in keys}
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
            function = self._function(latest.function_name)
            conn.execute(sa.select(functions.c.next_version).where(function).with_for_update())
            current = conn.execute(
                sa.select(function_versions.c.revision_id).where(
                    self._version(latest.function_name, LATEST)
                )
            ).scalar_one_or_none()
            if current != expected_revision:
                return None
            number = conn.execute(sa.select(functions.c.next_version).where(function)).scalar_one()
            conn.execute(sa.update(functions).where(function).values(next_version=number + 1))
            row: VersionRow = build(number)
            conn.execute(sa.insert(function_versions).values(**self._sealed(row)))
        return row

    def set_tags(self, name: str, tags: dict[str, str]) -> None:
        with map_db_errors(), self.engine.begin() as conn:
            conn.execute(sa.update(functions).where(self._function(name)).values(tags=tags))

    def delete_function(self, name: str) -> list[VersionRow]:
        """Delete a function with everything hanging off it; returns its versions."""
        with map_db_errors(), self.engine.begin() as conn:
            query = sa.select(function_versions).where(self.of_function(function_versions, name))
            rows = [self._opened(r) for r in conn.execute(query)]
            for table in (function_versions, aliases, *PER_QUALIFIER, *PER_FUNCTION):
                conn.execute(sa.delete(table).where(self.of_function(table, name)))
            conn.execute(sa.delete(functions).where(self._function(name)))
        return rows

    def delete_version(self, name: str, version: str) -> VersionRow | list[str] | None:
        """Delete one published version with its policies.

        Returns the deleted row, None if there was no such version, or the
        names of the aliases that route to it (then nothing is deleted).
        """
        with map_db_errors(), self.engine.begin() as conn:
            referenced = aliases_of_version(conn, self.region, name, version)
            if referenced:
                return referenced
            where = self._version(name, version)
            row = conn.execute(sa.select(function_versions).where(where)).first()
            if row is None:
                return None
            conn.execute(sa.delete(function_versions).where(where))
            for table in PER_QUALIFIER:
                conn.execute(
                    sa.delete(table).where(
                        self.of_function(table, name), table.c.qualifier == version
                    )
                )
        return self._opened(row)


def _function_row(row: sa.Row[Any]) -> FunctionRow:
    return FunctionRow(**fields_of(row._mapping))


def _context(region: str, function_name: str) -> bytes:
    return f"environment:{region}:{function_name}".encode()


def _version_order(row: VersionRow) -> tuple[int, ...]:
    return (0,) if row.version == LATEST else (1, int(row.version))
