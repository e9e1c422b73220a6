"""Migrations: a new database reaches the Alembic head, and migrating again is a no-op."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory

from lambdad.settings import Settings
from lambdad.store import create_engine, migrate
from lambdad.store.database import current_revision
from lambdad.store.schema import metadata


def head_revision() -> str:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("lambdad.store") / "migrations"))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def schema_of(engine: sa.Engine) -> dict[str, list[tuple[str, str]]]:
    inspector = sa.inspect(engine)
    return {
        table: [(c["name"], str(c["type"])) for c in inspector.get_columns(table)]
        for table in sorted(inspector.get_table_names())
    }


@pytest.fixture
def engine_url(own_database_url: str | None, tmp_path: Path) -> str:
    settings = Settings(data_dir=tmp_path, database_url=own_database_url)
    return settings.sqlalchemy_url


def test_migrate_reaches_head_and_twice_is_a_no_op(engine_url: str) -> None:
    engine = create_engine(engine_url)
    try:
        migrate(engine)
        with engine.connect() as conn:
            assert current_revision(conn) == head_revision()
        first = schema_of(engine)
        assert set(metadata.tables) <= set(first)

        migrate(engine)
        with engine.connect() as conn:
            assert current_revision(conn) == head_revision()
            versions = conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar_one()
        assert versions == 1
        assert schema_of(engine) == first
    finally:
        engine.dispose()


def test_migrated_schema_matches_the_metadata(engine_url: str) -> None:
    engine = create_engine(engine_url)
    try:
        migrate(engine)
        inspector = sa.inspect(engine)
        for table in metadata.tables.values():
            columns = {c["name"] for c in inspector.get_columns(table.name)}
            assert columns == {c.name for c in table.columns}, table.name
    finally:
        engine.dispose()


def test_data_survives_a_second_migrate(engine_url: str) -> None:
    from lambdad.store import FunctionRow, FunctionStore, VersionRow

    engine = create_engine(engine_url)
    try:
        migrate(engine)
        store = FunctionStore(engine)
        function = FunctionRow("fn", 1.0, {"k": "v"}, 1, None)
        latest = VersionRow("fn", "$LATEST", "rev", "ab" * 32, 10, {"runtime": "python3.12"}, 2.0)
        assert store.create_function(function, latest)
        migrate(engine)
        assert store.get_function("fn") == function
        assert store.get_version("fn", "$LATEST") == latest
    finally:
        engine.dispose()
