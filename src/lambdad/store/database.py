"""The SQL database: an engine (SQLite file or PostgreSQL), migrations, and the
one place where driver exceptions become lambdad errors.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from lambdad.errors import ServiceError

log = logging.getLogger(__name__)


class DatabaseError(ServiceError):
    """The database failed underneath us (unreachable, locked, corrupt)."""


@contextmanager
def map_db_errors() -> Iterator[None]:
    """Turn SQLAlchemy/driver errors into `DatabaseError` at the store's edge."""
    try:
        yield
    except sa.exc.SQLAlchemyError as exc:
        log.exception("database error")
        raise DatabaseError(f"Database error: {exc.__class__.__name__}") from exc


def compare_and_swap(
    engine: Engine, table: sa.Table, keys: dict[str, Any], values: dict[str, Any], revision: str
) -> bool:
    """Update the row of `table` with primary key `keys` to `values` if its revision_id is
    still `revision`; False when someone changed (or deleted) it meanwhile."""
    query = (
        sa.update(table)
        .where(*(table.c[k] == v for k, v in keys.items()), table.c.revision_id == revision)
        .values(**values)
    )
    with map_db_errors(), engine.begin() as conn:
        return bool(conn.execute(query).rowcount == 1)


def create_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=8,
            max_overflow=8,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    engine = sa.create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=8)
    event.listen(engine, "do_execute", _binary_results)
    return engine


def reading(engine: Engine) -> Connection:
    """A connection for reads only (`with reading(engine) as conn:`).

    On SQLite its transaction begins DEFERRED: in WAL mode a reader takes no lock,
    so a read never waits behind a writer, whether another thread's or another
    process's (`--workers` runs several servers on one file); every other
    transaction takes the write lock at BEGIN (`_sqlite_begin`). Writing through it
    is a bug: a write after a read in a deferred transaction can fail with "database
    is locked" instead of waiting."""
    return engine.connect().execution_options(**{_READ_ONLY: True})


_READ_ONLY = "lambdad_read_only"


def _sqlite_begin(conn: Connection) -> None:
    # A transaction that may write takes the write lock at BEGIN, so two writers
    # queue on busy_timeout instead of failing with "database is locked" on lock
    # upgrade; a read-only one (`reading`) takes none.
    if conn.get_execution_options().get(_READ_ONLY):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _binary_results(cursor: Any, statement: str, parameters: Any, context: Any) -> bool | None:
    """A statement with the execution option `binary_results` gets its rows in
    PostgreSQL's binary format: a bytea as its bytes, not as hex text twice its size for
    the driver to decode (a log search reads megabytes of messages)."""
    if not context.execution_options.get("binary_results"):
        return None  # SQLAlchemy executes it as usual
    cursor.execute(statement, parameters, binary=True)
    return True


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # The driver's own transaction handling is off so "begin" above owns BEGIN.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    # The WAL is truncated back to this after a checkpoint, so a burst of log
    # writes does not leave it at its high-water mark.
    cur.execute("PRAGMA journal_size_limit=4194304")
    cur.close()


def migrate(engine: Engine, default_region: str = "us-east-1") -> None:
    """Bring the schema to the newest Alembic revision (idempotent).

    `default_region` (the server's `--region`) receives rows older than regions."""
    cfg = Config()
    cfg.attributes["default_region"] = default_region
    cfg.set_main_option("script_location", str(resources.files("lambdad.store") / "migrations"))
    with map_db_errors(), engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def current_revision(conn: Connection) -> str | None:
    row = conn.execute(sa.text("SELECT version_num FROM alembic_version")).first()
    return None if row is None else str(row[0])
