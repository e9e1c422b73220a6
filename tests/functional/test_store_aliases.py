"""AliasStore against a real database: compare-and-swap, and versions aliases protect."""

from __future__ import annotations

import dataclasses

import sqlalchemy as sa

from lambdad.store import (
    AliasRow,
    AliasStore,
    FunctionRow,
    FunctionStore,
    VersionRow,
)
from lambdad.store.schema import function_versions


def function_with_version(store: FunctionStore, name: str = "fn") -> None:
    latest = VersionRow(name, "$LATEST", "r0", "ab" * 32, 10, {"runtime": "python3.12"}, 2.0)
    assert store.create_function(FunctionRow(name, 1.0, {}, 2, None), latest)
    published = VersionRow(name, "1", "r1", "ab" * 32, 10, {"runtime": "python3.12"}, 3.0)
    with store.engine.begin() as conn:
        conn.execute(sa.insert(function_versions).values(**published.__dict__, region=store.region))


def alias(name: str = "live", version: str = "1", **changes: object) -> AliasRow:
    row = AliasRow("fn", name, version, "", None, "a0")
    return dataclasses.replace(row, **changes)  # type: ignore[arg-type]


def test_create_get_list_replace_delete(engine: sa.Engine) -> None:
    functions, aliases = FunctionStore(engine), AliasStore(engine)
    function_with_version(functions)
    assert aliases.create(alias("b", routing_config={"2": 0.25}))
    assert aliases.create(alias("a"))
    assert aliases.create(alias("a")) is False
    assert aliases.create(AliasRow("nofn", "a", "1", "", None, "x")) is None
    assert [r.name for r in aliases.list("fn")] == ["a", "b"]
    assert aliases.get("fn", "b") == alias("b", routing_config={"2": 0.25})

    assert aliases.replace(alias("a", "$LATEST", revision_id="a1"), "a0")
    assert not aliases.replace(alias("a", "1", revision_id="a2"), "a0")  # stale revision
    assert aliases.get("fn", "a") == alias("a", "$LATEST", revision_id="a1")
    assert aliases.delete("fn", "a")
    assert not aliases.delete("fn", "a")


def test_a_version_an_alias_routes_to_is_kept(engine: sa.Engine) -> None:
    functions, aliases = FunctionStore(engine), AliasStore(engine)
    function_with_version(functions)
    aliases.create(alias("live", "$LATEST", routing_config=None))
    aliases.create(alias("canary", "$LATEST", routing_config={"1": 0.5}))
    assert functions.delete_version("fn", "1") == ["canary"]
    aliases.delete("fn", "canary")
    deleted = functions.delete_version("fn", "1")
    assert isinstance(deleted, VersionRow) and deleted.version == "1"
    assert functions.delete_version("fn", "1") is None
    functions.delete_function("fn")
    assert aliases.list("fn") == []
