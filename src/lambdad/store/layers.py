"""Rows of layer versions: numbering, tombstones and the version's policy.

A deleted layer version stays as a tombstone row (`config["deleted"]`): its
number is never handed out again, as on AWS, and functions that already use
it keep its content until none refers to it. Every method is blocking:
callers run it through `run_sync`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lambdad.store.database import map_db_errors
from lambdad.store.regional import RegionalStore, fields_of
from lambdad.store.schema import function_versions, layer_versions

PUBLISH_ATTEMPTS = 5
"""Concurrent publishes of one layer race for the next number; the loser retries."""


@dataclass(frozen=True)
class LayerVersionRow:
    layer_name: str
    version: int
    code_sha256: str
    """Hex SHA-256 of the zip: its key in the blob store."""
    code_size: int
    config: dict[str, Any]
    """Description, LicenseInfo, compatible runtimes/architectures, unzipped size,
    the policy, and `deleted` for a tombstone."""
    created_at: float

    @property
    def deleted(self) -> bool:
        return bool(self.config.get("deleted"))


class LayerStore(RegionalStore):
    def _layer(self, layer_name: str) -> sa.ColumnElement[bool]:
        return sa.and_(self.here(layer_versions), layer_versions.c.layer_name == layer_name)

    def _version(self, layer_name: str, version: int) -> sa.ColumnElement[bool]:
        return sa.and_(self._layer(layer_name), layer_versions.c.version == version)

    # -- reads -----------------------------------------------------------

    def get(self, layer_name: str, version: int) -> LayerVersionRow | None:
        """The row, tombstone or not."""
        query = sa.select(layer_versions).where(self._version(layer_name, version))
        with map_db_errors(), self.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else _row(row._mapping)

    def versions(self, layer_name: str) -> list[LayerVersionRow]:
        """A layer's live versions, newest first."""
        query = (
            sa.select(layer_versions)
            .where(self._layer(layer_name))
            .order_by(layer_versions.c.version.desc())
        )
        with map_db_errors(), self.engine.connect() as conn:
            rows = [_row(r._mapping) for r in conn.execute(query)]
        return [r for r in rows if not r.deleted]

    def layers_after(self, after: str | None) -> Iterator[list[LayerVersionRow]]:
        """Each layer's live versions (newest first), layer by layer in name order,
        starting after the layer named `after`. Read in batches of names."""
        while True:
            names_query = (
                sa.select(layer_versions.c.layer_name)
                .where(self.here(layer_versions))
                .distinct()
                .order_by(layer_versions.c.layer_name)
                .limit(100)
            )
            if after is not None:
                names_query = names_query.where(layer_versions.c.layer_name > after)
            with map_db_errors(), self.engine.connect() as conn:
                names = [r[0] for r in conn.execute(names_query)]
            if not names:
                return
            for name in names:
                live = self.versions(name)
                if live:
                    yield live
            after = names[-1]

    def tombstones(self) -> list[tuple[str, LayerVersionRow]]:
        """Every region's deleted versions whose content is not yet released, with
        their regions (the sweep is the server's)."""
        with map_db_errors(), self.engine.connect() as conn:
            rows = [
                (str(r.region), _row(r._mapping)) for r in conn.execute(sa.select(layer_versions))
            ]
        return [(region, r) for region, r in rows if r.deleted and not r.config.get("released")]

    def layers_in_use(self) -> set[str]:
        """The layer version ARNs that some function version of any region was configured
        with (the catalog's resolved `layer_refs`, so always in their canonical form)."""
        used: set[str] = set()
        with map_db_errors(), self.engine.connect() as conn:
            for (config,) in conn.execute(sa.select(function_versions.c.config)):
                used.update(ref["arn"] for ref in (config or {}).get("layer_refs") or ())
        return used

    def code_size_total(self) -> int:
        """Bytes of the live layer versions' zips (GetAccountSettings' TotalCodeSize)."""
        query = sa.select(layer_versions.c.code_size, layer_versions.c.config).where(
            self.here(layer_versions)
        )
        with map_db_errors(), self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return sum(int(size) for size, config in rows if not (config or {}).get("deleted"))

    def blob_in_use(self, code_sha256: str) -> bool:
        with map_db_errors(), self.engine.connect() as conn:
            return blob_referenced(conn, code_sha256)

    # -- writes ----------------------------------------------------------

    def publish(self, layer_name: str, build: Callable[[int], LayerVersionRow]) -> LayerVersionRow:
        """Insert `build(number)` under the layer's next number (tombstones count)."""
        for attempt in range(PUBLISH_ATTEMPTS):
            try:
                with map_db_errors(), self.engine.begin() as conn:
                    self._take_turns(conn, layer_name)
                    highest = conn.execute(
                        sa.select(sa.func.max(layer_versions.c.version)).where(
                            self._layer(layer_name)
                        )
                    ).scalar_one_or_none()
                    row = build(int(highest or 0) + 1)
                    conn.execute(
                        sa.insert(layer_versions).values(**row.__dict__, region=self.region)
                    )
                return row
            except Exception as exc:
                # A concurrent publish took the number (only if `_take_turns` could not
                # serialize them: SQLite's BEGIN IMMEDIATE and PostgreSQL's lock do).
                if not _is_integrity_error(exc) or attempt == PUBLISH_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _take_turns(self, conn: Connection, layer_name: str) -> None:
        """PostgreSQL: publishes of one layer wait for each other (a transaction-scoped
        advisory lock on its name), so eight at once do not race for one number eight
        times over. SQLite already serializes writers at BEGIN IMMEDIATE."""
        if conn.dialect.name == "postgresql":
            key = sa.func.hashtext(f"layer:{self.region}:{layer_name}")
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))

    def update_config(
        self,
        layer_name: str,
        version: int,
        change: Callable[[LayerVersionRow], dict[str, Any] | None],
    ) -> LayerVersionRow | None:
        """Read the live row under a lock, write `change(row)`'s config if it returns one.

        None when the version does not exist (or is a tombstone); `change` may
        raise to refuse (a RevisionId mismatch, a duplicate statement id).
        """
        query = (
            sa.select(layer_versions).where(self._version(layer_name, version)).with_for_update()
        )
        with map_db_errors(), self.engine.begin() as conn:
            found = conn.execute(query).first()
            if found is None:
                return None
            row = _row(found._mapping)
            if row.deleted:
                return None
            config = change(row)
            if config is None:
                return row
            conn.execute(
                sa.update(layer_versions)
                .where(self._version(layer_name, version))
                .values(config=config)
            )
        return LayerVersionRow(**{**row.__dict__, "config": config})

    def mark_deleted(self, layer_name: str, version: int) -> LayerVersionRow | None:
        """Make the version a tombstone; the live row it was, or None."""
        return self.update_config(
            layer_name, version, lambda row: {**row.config, "deleted": True, "policy": None}
        )

    def release(self, layer_name: str, version: int) -> None:
        """Mark a tombstone's content as released (its blob may be gone); the number stays."""
        with map_db_errors(), self.engine.begin() as conn:
            found = conn.execute(
                sa.select(layer_versions.c.config).where(self._version(layer_name, version))
            ).first()
            if found is None:
                return
            conn.execute(
                sa.update(layer_versions)
                .where(self._version(layer_name, version))
                .values(config={**(found[0] or {}), "released": True})
            )


def blob_referenced(conn: Connection, code_sha256: str) -> bool:
    """Whether a function version's code or a layer version's content is this blob.

    A deleted layer version counts until it is released: functions that
    were configured with it still run it.
    """
    functions = conn.execute(
        sa.select(sa.func.count())
        .select_from(function_versions)
        .where(function_versions.c.code_sha256 == code_sha256)
    ).scalar_one()
    if int(functions) > 0:
        return True
    layers = conn.execute(
        sa.select(layer_versions.c.config).where(layer_versions.c.code_sha256 == code_sha256)
    )
    return any(not (config or {}).get("released") for (config,) in layers)


def _row(mapping: sa.RowMapping) -> LayerVersionRow:
    return LayerVersionRow(**fields_of(mapping))


def _is_integrity_error(exc: BaseException) -> bool:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, sa.exc.IntegrityError):
            return True
        cause = cause.__cause__
    return False
