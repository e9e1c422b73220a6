"""LayerStore against a real database: numbering under races, tombstones, policy locks."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import sqlalchemy as sa

from lambdad.store import FunctionStore, LayerStore, LayerVersionRow
from lambdad.store.functions import FunctionRow, VersionRow


def row(name: str, key: str = "ab" * 32) -> Any:
    def build(number: int) -> LayerVersionRow:
        return LayerVersionRow(name, number, key, 10, {"description": str(number)}, 1.0)

    return build


def test_concurrent_publishes_get_distinct_numbers(engine: sa.Engine) -> None:
    store = LayerStore(engine)
    numbers: list[int] = []
    errors: list[BaseException] = []

    def publish() -> None:
        try:
            numbers.append(store.publish("shared", row("shared")).version)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=publish) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(numbers) == list(range(1, 9))


def test_tombstones_keep_their_number_and_hide_the_version(engine: sa.Engine) -> None:
    store = LayerStore(engine)
    store.publish("l", row("l"))
    store.publish("l", row("l"))
    assert store.mark_deleted("l", 2) is not None
    assert store.mark_deleted("l", 2) is None
    assert [r.version for r in store.versions("l")] == [1]
    assert store.publish("l", row("l")).version == 3
    assert [(region, r.version) for region, r in store.tombstones()] == [("us-east-1", 2)]
    store.release("l", 2)
    assert store.tombstones() == []


def test_blob_in_use_counts_layers_until_released_and_functions(engine: sa.Engine) -> None:
    layers, functions = LayerStore(engine), FunctionStore(engine)
    key = "cd" * 32
    layers.publish("l", row("l", key))
    assert layers.blob_in_use(key) and functions.blob_in_use(key)
    layers.mark_deleted("l", 1)
    assert functions.blob_in_use(key)  # a function configured with it may still run it
    layers.release("l", 1)
    assert not functions.blob_in_use(key)
    functions.create_function(
        FunctionRow("fn", 1.0, {}, 1, None),
        VersionRow("fn", "$LATEST", "r", key, 10, {"layer_refs": [{"arn": "arn:x:1"}]}, 1.0),
    )
    assert layers.blob_in_use(key)
    assert layers.layers_in_use() == {"arn:x:1"}


def test_update_config_refuses_through_the_callback(engine: sa.Engine) -> None:
    store = LayerStore(engine)
    store.publish("l", row("l"))

    def refuse(_row: LayerVersionRow) -> dict[str, Any]:
        raise ValueError("no")

    with pytest.raises(ValueError):
        store.update_config("l", 1, refuse)
    changed = store.update_config("l", 1, lambda r: {**r.config, "policy": {"x": 1}})
    assert changed is not None and changed.config["policy"] == {"x": 1}
    got = store.get("l", 1)
    assert got is not None and got.config["policy"] == {"x": 1}
    assert store.update_config("l", 9, lambda r: {}) is None
