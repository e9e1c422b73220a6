"""Regional keys: the region is part of the key of every function, layer and log group.

0006 gave functions a (nullable) region, but names stayed unique on a server.
Here the region becomes the first key column of functions and of everything
keyed by a function name (versions, aliases, policies, concurrency, event
invoke configs, function URLs, async events, event source mappings), of layer
versions and of log groups and streams, so the same name lives in two regions.

Rows take their function's region; rows without one (older than 0006, or
orphans) take the server's default region, handed in by `store.migrate` as
the `default_region` attribute. A log group `/aws/lambda/NAME` goes with its
function; other log groups and every layer go to the default region.

Tables whose primary key changes are rebuilt (create, copy, drop, rename), the
same statements on SQLite and PostgreSQL. The concurrency tables lose their
foreign key to `functions`: `FunctionStore.delete_function` deletes them with
the function, as it does every other table here.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

DEFAULT_REGION = "us-east-1"

Columns = Callable[[], list[sa.Column[Any]]]


def _default_region() -> str:
    config = op.get_context().config
    region = config.attributes.get("default_region") if config is not None else None
    return str(region or DEFAULT_REGION)


def _key(name: str, length: int) -> sa.Column[Any]:
    return sa.Column(name, sa.String(length), primary_key=True)


def _region_key() -> sa.Column[Any]:
    return sa.Column("region", sa.String(32), primary_key=True, nullable=False)


def _function_key() -> sa.Column[Any]:
    return _key("function_name", 64)


def _qualifier_key() -> sa.Column[Any]:
    return _key("qualifier", 128)


# The new shapes of the rebuilt tables (region first), as of this revision.
_REBUILT: dict[str, Columns] = {
    "functions": lambda: [
        _region_key(),
        _key("name", 64),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("next_version", sa.Integer, nullable=False),
        sa.Column("reserved_concurrency", sa.Integer, nullable=True),
    ],
    "function_versions": lambda: [
        _region_key(),
        _function_key(),
        _key("version", 16),
        sa.Column("revision_id", sa.String(36), nullable=False),
        sa.Column("code_sha256", sa.String(64), nullable=False),
        sa.Column("code_size", sa.BigInteger, nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("last_modified", sa.Float, nullable=False),
    ],
    "aliases": lambda: [
        _region_key(),
        _function_key(),
        _key("name", 128),
        sa.Column("function_version", sa.String(16), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("routing_config", sa.JSON, nullable=True),
        sa.Column("revision_id", sa.String(36), nullable=False),
    ],
    "layer_versions": lambda: [
        _region_key(),
        _key("layer_name", 140),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("code_sha256", sa.String(64), nullable=False),
        sa.Column("code_size", sa.BigInteger, nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    ],
    "policies": lambda: [
        _region_key(),
        _function_key(),
        _qualifier_key(),
        _key("statement_id", 100),
        sa.Column("statement", sa.JSON, nullable=False),
        sa.Column("added_at", sa.Float, nullable=False, server_default="0"),
    ],
    "policy_revisions": lambda: [
        _region_key(),
        _function_key(),
        _qualifier_key(),
        sa.Column("revision_id", sa.String(36), nullable=False),
    ],
    "event_invoke_configs": lambda: [
        _region_key(),
        _function_key(),
        _qualifier_key(),
        sa.Column("maximum_retry_attempts", sa.Integer, nullable=True),
        sa.Column("maximum_event_age_s", sa.Integer, nullable=True),
        sa.Column("on_success", sa.String(350), nullable=True),
        sa.Column("on_failure", sa.String(350), nullable=True),
        sa.Column("last_modified", sa.Float, nullable=False),
    ],
    "function_url_configs": lambda: [
        _region_key(),
        _function_key(),
        _qualifier_key(),
        sa.Column("url_id", sa.String(32), nullable=False, unique=True),
        sa.Column("auth_type", sa.String(16), nullable=False),
        sa.Column("cors", sa.JSON, nullable=True),
        sa.Column("invoke_mode", sa.String(16), nullable=False),
        sa.Column("creation_time", sa.Float, nullable=False),
        sa.Column("last_modified", sa.Float, nullable=False),
    ],
    "provisioned_concurrency": lambda: [
        _region_key(),
        _function_key(),
        _qualifier_key(),
        sa.Column("requested", sa.Integer, nullable=False),
        sa.Column("last_modified", sa.Float, nullable=False),
    ],
    "recursion_configs": lambda: [
        _region_key(),
        _function_key(),
        sa.Column("recursive_loop", sa.String(16), nullable=False),
    ],
    "log_groups": lambda: [
        _region_key(),
        _key("name", 512),
        sa.Column("retention_days", sa.Integer, nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    ],
    "log_streams": lambda: [
        _region_key(),
        _key("log_group", 512),
        _key("log_stream", 512),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    ],
}

# Tables that only gain a region column (their keys are ids).
_WIDENED = ("event_source_mappings", "async_events", "log_chunks")


def _function_region(table: str, column: str, default: str) -> str:
    """SQL for the region of the function a row of `table` names in `column`."""
    return (
        f"COALESCE((SELECT f.region FROM functions f WHERE f.name = {table}.{column}), '{default}')"
    )


def _log_group_region(table: str, column: str, default: str) -> str:
    """A function's log group (/aws/lambda/NAME) goes with its function."""
    return (
        "COALESCE((SELECT f.region FROM functions f "
        f"WHERE '/aws/lambda/' || f.name = {table}.{column}), '{default}')"
    )


def _region_of(table: str, default: str) -> str:
    if table == "functions":
        return f"COALESCE(functions.region, '{default}')"
    if table == "layer_versions":
        return f"'{default}'"
    if table == "log_groups":
        return _log_group_region(table, "name", default)
    if table in ("log_streams", "log_chunks"):
        return _log_group_region(table, "log_group", default)
    return _function_region(table, "function_name", default)


def upgrade() -> None:
    default = _default_region()
    if not all(c.isalnum() or c == "-" for c in default):
        raise ValueError(f"not a region: {default!r}")
    conn = op.get_bind()
    # Regions are read from `functions` while it still has its old shape, so the
    # widened tables first and the rebuilt ones into new tables before any drop.
    for table in _WIDENED:
        op.add_column(
            table,
            sa.Column("region", sa.String(32), nullable=False, server_default=default),
        )
        conn.execute(sa.text(f"UPDATE {table} SET region = {_region_of(table, default)}"))
    for table, columns in _REBUILT.items():
        new = op.create_table(f"{table}_0010", *columns())
        assert new is not None
        names = [c.name for c in new.columns if c.name != "region"]
        listed = ", ".join(names)
        conn.execute(
            sa.text(
                f"INSERT INTO {table}_0010 (region, {listed}) "
                f"SELECT {_region_of(table, default)}, {listed} FROM {table}"
            )
        )
    for table in reversed(_REBUILT):
        op.drop_table(table)
    for table in _REBUILT:
        op.rename_table(f"{table}_0010", table)
        _rename_constraints(f"{table}_0010", table)
    op.drop_index("ix_log_chunks_group", table_name="log_chunks")
    op.create_index("ix_log_chunks_group", "log_chunks", ["region", "log_group", "id"])


def downgrade() -> None:
    """Back to names unique on the server: of a name in several regions, the row of the
    first region (in sort order) stays; functions keep their region in 0006's column."""
    conn = op.get_bind()
    op.drop_index("ix_log_chunks_group", table_name="log_chunks")
    op.create_index("ix_log_chunks_group", "log_chunks", ["log_group", "id"])
    for table in _WIDENED:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("region")
    for table, columns in _REBUILT.items():
        shape = [c for c in columns() if c.name != "region"]
        if table == "functions":
            shape.append(sa.Column("region", sa.String(32), nullable=True))
        old = op.create_table(f"{table}_pre0010", *shape)
        assert old is not None
        names = [c.name for c in old.columns]
        keys = [c.name for c in old.columns if c.primary_key]
        same_key = " AND ".join(f"o.{k} = {table}.{k}" for k in keys)
        conn.execute(
            sa.text(
                f"INSERT INTO {table}_pre0010 ({', '.join(names)}) "
                f"SELECT {', '.join(names)} FROM {table} WHERE region = "
                f"(SELECT MIN(o.region) FROM {table} o WHERE {same_key})"
            )
        )
    for table in reversed(_REBUILT):
        op.drop_table(table)
    for table in _REBUILT:
        op.rename_table(f"{table}_pre0010", table)
        _rename_constraints(f"{table}_pre0010", table)


def _rename_constraints(old: str, table: str) -> None:
    """PostgreSQL names constraints after the table they were made on: give the
    rebuilt table's the names a table made as `table` has (SQLite keeps none)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE {table} RENAME CONSTRAINT {old}_pkey TO {table}_pkey")
    if table == "function_url_configs":
        op.execute(f"ALTER TABLE {table} RENAME CONSTRAINT {old}_url_id_key TO {table}_url_id_key")
