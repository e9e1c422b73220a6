"""The store tests' database: migrated, on SQLite and (when configured) PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from lambdad.settings import Settings
from lambdad.store import create_engine, migrate


@pytest.fixture
def engine(own_database_url: str | None, tmp_path: Path) -> Iterator[sa.Engine]:
    engine = create_engine(
        Settings(data_dir=tmp_path, database_url=own_database_url).sqlalchemy_url
    )
    migrate(engine)
    try:
        yield engine
    finally:
        engine.dispose()
