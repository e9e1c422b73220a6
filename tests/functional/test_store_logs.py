"""LogStore against a real database: chunks, ids and cursors, eviction, retention,
and the migration that carries the old one-row-per-line events over."""

from __future__ import annotations

from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from lambdad.settings import Settings
from lambdad.store import LogStore, NewChunk, create_engine, migrate
from lambdad.store.logs import DAY_MS, EVENTS_PER_CHUNK

G, H = "/aws/lambda/g", "/aws/lambda/h"


def chunk(group: str, stream: str, *messages: str, at: int = 1000) -> NewChunk:
    return NewChunk(group, stream, [(at, len(messages))], "\n".join(messages).encode())


@pytest.fixture
def url(own_database_url: str | None, tmp_path: Path) -> str:
    return Settings(data_dir=tmp_path, database_url=own_database_url).sqlalchemy_url


@pytest.fixture
def store(url: str) -> Iterator[LogStore]:
    engine = create_engine(url)
    migrate(engine)
    try:
        yield LogStore(engine)
    finally:
        engine.dispose()


def messages(store: LogStore, group: str, after: int = 0, limit: int = 1000) -> list[str]:
    return [event.message for event in store.events(group, after, limit)]


def test_events_come_back_in_order_with_ids_to_continue_after(store: LogStore) -> None:
    chunks = [
        NewChunk(G, "s1", [(1000, 2), (1005, 1)], b"a\nb\nc"),
        chunk(H, "s9", "other group"),
        chunk(G, "s2", "d", "\u00e9"),
    ]
    assert chunks[0].size == 5 + 2 * 16  # messages, and two (timestamp, count) runs
    assert store.append(chunks) == store.total_bytes() == sum(c.size for c in chunks)
    events = store.events(G)
    assert [(e.message, e.timestamp_ms, e.log_stream) for e in events] == [
        ("a", 1000, "s1"),
        ("b", 1000, "s1"),
        ("c", 1005, "s1"),
        ("d", 1000, "s2"),
        ("\u00e9", 1000, "s2"),
    ]
    ids = [e.id for e in events]
    assert ids == sorted(ids) and ids[0] > 0 and ids[1] == ids[0] + 1
    assert messages(store, G, after=ids[1], limit=2) == ["c", "d"]
    assert messages(store, G, after=ids[-1]) == []
    assert store.last_id(G) == ids[-1] and store.last_id("/aws/lambda/none") == 0
    assert [e.message for e in store.events(G, stream="s2")] == ["d", "\u00e9"]
    assert store.streams(G) == ["s1", "s2"]


def test_tail_start_finds_the_last_events_across_chunks(store: LogStore) -> None:
    store.append([chunk(G, "s", "a", "b", "c")])
    store.append([chunk(G, "s", "d", "e")])
    for count, expected in [(1, ["e"]), (2, ["d", "e"]), (3, ["c", "d", "e"]), (9, list("abcde"))]:
        assert messages(store, G, store.tail_start(G, count)) == expected, count
    assert store.tail_start("/aws/lambda/none", 5) == 0


def test_a_chunk_holds_up_to_its_id_space(store: LogStore) -> None:
    many = [str(n) for n in range(EVENTS_PER_CHUNK)]
    store.append([chunk(G, "s", *many), chunk(G, "s", "next")])
    events = store.events(G, 0, EVENTS_PER_CHUNK + 1)
    assert [e.message for e in events[-2:]] == [many[-1], "next"]
    assert len({e.id for e in events}) == EVENTS_PER_CHUNK + 1


def test_evict_oldest_deletes_whole_chunks_oldest_first(store: LogStore) -> None:
    store.append([chunk(G, "s", "x" * 100, at=1)])
    store.append([chunk(H, "s", "y" * 100, at=2)])
    store.append([chunk(G, "s", "z" * 100, at=3)])
    total = store.total_bytes()
    removed = store.evict_oldest(150)
    assert (removed.events, removed.groups) == (2, {G, H})
    assert (removed.first_ms, removed.last_ms) == (1, 2)
    assert store.total_bytes() == total - removed.bytes
    assert messages(store, G) == ["z" * 100] and messages(store, H) == []
    assert store.evict_oldest(10**9).events == 1 and store.evict_oldest(1).events == 0


def test_retention_deletes_what_outlived_its_group(store: LogStore) -> None:
    now = 100 * DAY_MS
    assert store.retention_days(G) is None  # never expire, as AWS
    store.put_retention_policy(G, 1, now)
    store.put_retention_policy("/aws/lambda/new", 7, now)  # a group with no events yet
    assert (store.retention_days(G), store.retention_days("/aws/lambda/new")) == (1, 7)
    store.append([chunk(G, "s", "old", at=now - DAY_MS - 1)])
    store.append([chunk(G, "s", "new", at=now - DAY_MS + 1)])
    store.append([chunk(H, "s", "ancient", at=1)])  # no retention: kept
    removed = store.delete_expired(now)
    assert (removed.events, removed.groups) == (1, {G})
    assert messages(store, G) == ["new"] and messages(store, H) == ["ancient"]
    store.put_retention_policy(G, None, now)
    assert store.retention_days(G) is None


def test_the_migration_carries_old_events_over(url: str) -> None:
    engine = create_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("lambdad.store") / "migrations"))
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0001")
            conn.execute(
                sa.text(
                    "INSERT INTO log_streams (log_group, log_stream, created_ms) "
                    "VALUES (:g, 's1', 1), (:g, 's2', 2)"
                ),
                {"g": G},
            )
            old = [("s1", 5, "one"), ("s1", 5, "two"), ("s2", 6, "three\nfour"), ("s1", 7, " ")]
            for stream, ts, message in old:
                conn.execute(
                    sa.text(
                        "INSERT INTO log_events (log_group, log_stream, timestamp_ms, message) "
                        "VALUES (:g, :s, :t, :m)"
                    ),
                    {"g": G, "s": stream, "t": ts, "m": message},
                )
        migrate(engine)
        store = LogStore(engine)
        events = store.events(G)
        assert [(e.log_stream, e.timestamp_ms, e.message) for e in events] == [
            ("s1", 5, "one"),
            ("s1", 5, "two"),
            ("s2", 6, "three"),
            ("s2", 6, "four"),
        ]
        assert store.retention_days(G) is None and store.streams(G) == ["s1", "s2"]
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0001")
            command.upgrade(cfg, "head")
    finally:
        engine.dispose()


def test_a_read_stops_at_about_a_megabyte_of_messages(store: LogStore) -> None:
    big = "b" * 300_000
    store.append([chunk(G, "s", big, big, big, big, "small")])
    first = store.events(G)
    assert [len(e.message) for e in first] == [300_000] * 4  # 1.2 MB: the 4th passes 1 MiB
    rest = store.events(G, first[-1].id)
    assert [e.message for e in rest] == ["small"]
    assert len(store.events(G, 0, 1000, max_bytes=1)) == 1  # always at least one
