"""FunctionStore against a real database: races end in a clean answer, never a 500."""

from __future__ import annotations

import dataclasses
import sys
import threading

import sqlalchemy as sa

from lambdad.store import FunctionRow, FunctionStore, VersionRow
from lambdad.store.schema import function_versions, functions
from support.waiting import wait_until


def waits_to_write(thread: threading.Thread) -> bool:
    """Whether `thread` is inside the driver running a write that waits for a lock:
    SQLite's BEGIN IMMEDIATE, or PostgreSQL's INSERT behind an uncommitted one."""
    frame = sys._current_frames().get(thread.ident or 0)
    while frame is not None:
        statement = frame.f_locals.get("statement")
        if frame.f_code.co_name.startswith("do_execute") and isinstance(statement, str):
            return statement.lstrip().upper().startswith(("BEGIN IMMEDIATE", "INSERT"))
        frame = frame.f_back
    return False


def rows(name: str, revision: str = "rev-1") -> tuple[FunctionRow, VersionRow]:
    function = FunctionRow(name, 1.0, {}, 1, None)
    latest = VersionRow(name, "$LATEST", revision, "ab" * 32, 10, {"runtime": "python3.12"}, 2.0)
    return function, latest


def test_create_is_false_when_the_name_is_taken(engine: sa.Engine) -> None:
    store = FunctionStore(engine)
    assert store.create_function(*rows("fn"))
    assert not store.create_function(*rows("fn", "rev-2"))
    assert store.get_version("fn", "$LATEST") == rows("fn")[1]


def test_create_racing_an_uncommitted_create_is_false(engine: sa.Engine) -> None:
    """Another transaction inserted the name but has not committed when we check."""
    store = FunctionStore(engine)
    function, latest = rows("raced")
    results: list[bool] = []
    with engine.connect() as other:
        other.execute(sa.insert(functions).values(**function.__dict__, region="us-east-1"))
        other.execute(sa.insert(function_versions).values(**latest.__dict__, region="us-east-1"))
        worker = threading.Thread(
            target=lambda: results.append(store.create_function(*rows("raced", "rev-2")))
        )
        worker.start()
        wait_until(lambda: waits_to_write(worker), "the worker to block on our lock")
        other.commit()
    worker.join(timeout=30)
    assert results == [False]
    assert store.get_version("raced", "$LATEST") == latest


def test_publish_numbers_versions_in_turn(engine: sa.Engine) -> None:
    store = FunctionStore(engine)
    function, latest = rows("pub")
    store.create_function(function, latest)

    def build(number: int) -> VersionRow:
        return VersionRow("pub", str(number), "rev-1", latest.code_sha256, 10, {}, 3.0)

    published: list[VersionRow | None] = []
    threads = [
        threading.Thread(
            target=lambda: published.append(store.publish_version(latest, "rev-1", build))
        )
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    numbers = sorted(int(row.version) for row in published if row is not None)
    assert numbers == list(range(1, 7))
    assert [v.version for v in store.list_versions("pub")] == [
        "$LATEST",
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
    ]


def test_a_store_sees_its_regions_functions(engine: sa.Engine) -> None:
    east, west = FunctionStore(engine, "us-east-1"), FunctionStore(engine, "eu-west-1")
    assert east.create_function(*rows("east-fn"))
    assert west.create_function(*rows("west-fn"))
    assert east.get_function("west-fn") is None
    assert west.get_version("east-fn", "$LATEST") is None
    assert [r.function_name for r in west.list_functions(None, 10)] == ["west-fn"]
    assert (east.count_functions(), west.count_functions()) == (1, 1)
    assert east.regions() == ["eu-west-1", "us-east-1"]


def test_one_name_in_two_regions_is_two_functions(engine: sa.Engine) -> None:
    east, west = FunctionStore(engine, "us-east-1"), FunctionStore(engine, "eu-west-1")
    east_function, east_latest = rows("same")
    west_latest = dataclasses.replace(east_latest, revision_id="west", code_size=99)
    assert east.create_function(east_function, east_latest)
    assert west.create_function(east_function, west_latest)
    assert not west.create_function(east_function, west_latest)  # unique in its region
    assert east.get_version("same", "$LATEST") == east_latest
    assert west.get_version("same", "$LATEST") == west_latest

    def build(number: int) -> VersionRow:
        return dataclasses.replace(west_latest, version=str(number))

    assert west.publish_version(west_latest, "west", build) is not None
    assert [r.version for r in west.list_versions("same")] == ["$LATEST", "1"]
    assert [r.version for r in east.list_versions("same")] == ["$LATEST"]

    west.delete_function("same")
    assert west.get_function("same") is None
    assert east.get_function("same") == east_function
    assert east.get_version("same", "$LATEST") == east_latest


def test_an_invoke_reads_beside_an_uncommitted_write(engine: sa.Engine) -> None:
    """The reads a warm invoke makes answer what is committed while another
    transaction (another thread's, or another `--workers` process's log writer) holds
    the write lock, instead of queueing behind it."""
    store = FunctionStore(engine)
    function, latest = rows("read")
    store.create_function(function, latest)
    found: list[object] = []
    with engine.begin() as writer:
        writer.execute(sa.insert(functions).values(**rows("other")[0].__dict__, region="us-east-1"))
        reader = threading.Thread(
            target=lambda: found.extend(
                [store.get_function("read"), store.get_version("read", "$LATEST"), store.regions()]
            )
        )
        reader.start()
        wait_until(lambda: len(found) == 3, "the reads to answer beside the write")
        writer.rollback()
    reader.join(timeout=30)
    assert found == [function, latest, ["us-east-1"]]
