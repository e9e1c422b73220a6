"""Migrations: a new database reaches the Alembic head, and migrating again is a no-op."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
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


def _insert(conn: sa.Connection, table: str, **values: object) -> None:
    columns = ", ".join(values)
    conn.execute(
        sa.text(f"INSERT INTO {table} ({columns}) VALUES ({', '.join(':' + c for c in values)})"),
        values,
    )


def test_0010_gives_every_row_its_functions_region(engine_url: str) -> None:
    """Data of a 0006 server: functions with and without a region, rows that hang off
    them, layers and logs. After 0010 each row is in its function's region (NULL:
    the default one), and the same name can be created in another region."""
    from lambdad.store import (
        AliasStore,
        AsyncEventStore,
        ConcurrencyStore,
        FunctionRow,
        FunctionStore,
        FunctionUrlStore,
        LayerStore,
        LogStore,
        PolicyStore,
        VersionRow,
    )

    engine = create_engine(engine_url)
    try:
        cfg = Config()
        cfg.set_main_option("script_location", str(resources.files("lambdad.store") / "migrations"))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0006")
            for name, region in (("old", None), ("west", "eu-west-1")):
                _insert(
                    conn,
                    "functions",
                    name=name,
                    created_at=1.0,
                    tags="{}",
                    next_version=2,
                    reserved_concurrency=7,
                    region=region,
                )
                for version in ("$LATEST", "1"):
                    _insert(
                        conn,
                        "function_versions",
                        function_name=name,
                        version=version,
                        revision_id=f"{name}-{version}",
                        code_sha256="ab" * 32,
                        code_size=10,
                        config='{"runtime": "python3.12"}',
                        last_modified=2.0,
                    )
                _insert(
                    conn,
                    "aliases",
                    function_name=name,
                    name="live",
                    function_version="1",
                    description="",
                    revision_id="a",
                )
                _insert(
                    conn,
                    "policies",
                    function_name=name,
                    qualifier="live",
                    statement_id="s",
                    statement='{"Sid": "s"}',
                    added_at=1.0,
                )
                _insert(
                    conn, "policy_revisions", function_name=name, qualifier="live", revision_id="p"
                )
                _insert(
                    conn,
                    "function_url_configs",
                    function_name=name,
                    qualifier="$LATEST",
                    url_id=f"{name:a<32}",
                    auth_type="NONE",
                    invoke_mode="BUFFERED",
                    creation_time=1.0,
                    last_modified=1.0,
                )
                _insert(
                    conn,
                    "provisioned_concurrency",
                    function_name=name,
                    qualifier="1",
                    requested=2,
                    last_modified=1.0,
                )
                _insert(
                    conn,
                    "async_events",
                    id=f"event-{name}",
                    function_name=name,
                    qualifier="$LATEST",
                    payload=b"{}",
                    attempts=0,
                    enqueued_at=1.0,
                    next_attempt_at=1.0,
                    throttles=0,
                )
                _insert(conn, "log_groups", name=f"/aws/lambda/{name}", created_ms=1)
                _insert(
                    conn,
                    "log_streams",
                    log_group=f"/aws/lambda/{name}",
                    log_stream="s",
                    created_ms=1,
                )
            _insert(
                conn,
                "layer_versions",
                layer_name="lib",
                version=1,
                code_sha256="cd" * 32,
                code_size=5,
                config="{}",
                created_at=1.0,
            )
        migrate(engine, default_region="ap-south-1")
        with engine.connect() as conn:
            assert current_revision(conn) == head_revision()

        inspector = sa.inspect(engine)
        for table in ("functions", "aliases", "function_url_configs", "log_streams"):
            primary_key = inspector.get_pk_constraint(table)
            assert primary_key["constrained_columns"][0] == "region"
            # PostgreSQL's names are those of a table made under its own name.
            assert primary_key["name"] in (None, f"{table}_pkey")

        south = "ap-south-1"
        for region, name in ((south, "old"), ("eu-west-1", "west")):
            functions = FunctionStore(engine, region)
            assert functions.get_function(name) == FunctionRow(name, 1.0, {}, 2, 7)
            assert [v.revision_id for v in functions.list_versions(name)] == [
                f"{name}-$LATEST",
                f"{name}-1",
            ]
            assert [a.name for a in AliasStore(engine, region).list(name)] == ["live"]
            policy = PolicyStore(engine, region).get(name, "live")
            assert (policy.revision_id, policy.statements) == ("p", [{"Sid": "s"}])
            url = FunctionUrlStore(engine, region).get(name, "$LATEST")
            assert url is not None and url.url_id == f"{name:a<32}"
            concurrency = ConcurrencyStore(engine, region)
            assert [r.requested for r in concurrency.list_provisioned(name)] == [2]
            assert concurrency.reservations() == {name: 7}
            assert LogStore(engine, region).streams(f"/aws/lambda/{name}") == ["s"]
        assert FunctionStore(engine, "eu-west-1").get_function("old") is None
        events = {e.id: e.region for e in AsyncEventStore(engine).due(2.0, 10, set())}
        assert events == {"event-old": south, "event-west": "eu-west-1"}
        assert LayerStore(engine, south).get("lib", 1) is not None
        assert LayerStore(engine, "eu-west-1").get("lib", 1) is None

        # The same name now lives in a second region, and goes without the first.
        other = FunctionStore(engine, "eu-west-1")
        latest = VersionRow("old", "$LATEST", "r", "ab" * 32, 1, {}, 1.0)
        assert other.create_function(FunctionRow("old", 1.0, {}, 1, None), latest)
        other.delete_function("old")
        assert FunctionStore(engine, south).get_function("old") is not None
        assert ConcurrencyStore(engine, south).list_provisioned("old") != []
        FunctionStore(engine, south).delete_function("old")
        assert ConcurrencyStore(engine, south).list_provisioned("old") == []
        assert ConcurrencyStore(engine, "eu-west-1").list_provisioned("west") != []
    finally:
        engine.dispose()


def test_0017_counts_each_earlier_usage_row_as_one_invocation(engine_url: str) -> None:
    from lambdad.store import InvocationRecord, UsageRow, UsageStore

    engine = create_engine(engine_url)
    try:
        cfg = Config()
        cfg.set_main_option("script_location", str(resources.files("lambdad.store") / "migrations"))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0016")
            for billed in (3, 1021):
                _insert(
                    conn,
                    "invocation_records",
                    region="us-east-1",
                    function_name="fn",
                    version="$LATEST",
                    day="2026-10-15",
                    ended_at=1.0,
                    billed_ms=billed,
                    memory_mb=1024,
                    architecture="x86_64",
                    provisioned=False,
                )
        migrate(engine)
        store = UsageStore(engine)
        group = InvocationRecord(
            "us-east-1", "fn", "$LATEST", "2026-10-15", 2.0, 976, 1024, "x86_64", False, 3
        )
        store.add([group])
        assert store.usage("2026-10-15", "2026-10-15") == [
            UsageRow("2026-10-15", "us-east-1", "fn", "x86_64", "invocations", False, 5, 2.0)
        ]
    finally:
        engine.dispose()
