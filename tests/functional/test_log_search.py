"""The full-text index over log chunks on a real database: a search reads only the
chunks that may match, and every way events leave (the size cap, retention,
DeleteLogGroup) takes their words out of the index with them."""

from __future__ import annotations

import sqlalchemy as sa

from lambdad.store import LogStore, NewChunk
from lambdad.store.log_index import Words
from lambdad.store.log_queries import EventQuery, LogQueries
from lambdad.store.logs import DAY_MS
from lambdad.telemetry.filter_pattern import parse

G, H = "/aws/lambda/g", "/aws/lambda/h"


def search(engine: sa.Engine, group: str, pattern: str) -> list[str]:
    parsed = parse(pattern)
    page = LogQueries(engine).filter_events(
        EventQuery(group),
        parsed.matches,
        parsed.narrowing,
        after_id=0,
        limit=100,
        max_bytes=1 << 20,
        max_scanned_bytes=1 << 30,
    )
    return [event.message for event in page.events]


def candidates(engine: sa.Engine, words: str) -> int:
    """How many chunks the index hands a search for `words` (ignoring the matcher)."""
    page = LogQueries(engine).filter_events(
        EventQuery(G), lambda _m: True, Words(tuple(words.split())), after_id=0,
        limit=10_000, max_bytes=1 << 30, max_scanned_bytes=1 << 30,
    )  # fmt: skip
    return len({event.id >> 16 for event in page.events})


def test_the_index_finds_the_chunks_and_the_matcher_decides(engine: sa.Engine) -> None:
    store = LogStore(engine)
    store.append([NewChunk(G, "s", [(1000, 2)], b"all fine\nstill fine")])
    store.append([NewChunk(G, "s", [(2000, 2)], b"[ERROR] disk full\nERRORS=0 retry")])
    store.append([NewChunk(G, "t", [(3000, 1)], b"Error: lowercase-ish")])
    assert candidates(engine, "ERROR") >= 1  # SQLite folds case: 2 chunks, PostgreSQL 1
    assert candidates(engine, "disk full") == 1
    assert candidates(engine, "absent") == 0
    assert search(engine, G, "ERROR") == ["[ERROR] disk full"]
    assert search(engine, G, "Error") == ["Error: lowercase-ish"]
    assert search(engine, G, "?disk ?still") == ["still fine", "[ERROR] disk full"]


def test_deleted_events_leave_the_index(engine: sa.Engine) -> None:
    store = LogStore(engine)
    store.append([NewChunk(G, "s", [(1000, 1)], b"old needle")])
    store.append([NewChunk(H, "s", [(DAY_MS * 10, 1)], b"kept needle")])
    store.append([NewChunk(G, "s", [(DAY_MS * 10, 1)], b"new needle")])
    store.evict_oldest(1)
    assert search(engine, G, "needle") == ["new needle"]
    assert candidates(engine, "old") == 0

    store.put_retention_policy(G, 1, DAY_MS * 10)
    store.delete_expired(DAY_MS * 12)
    assert search(engine, G, "needle") == []
    assert search(engine, H, "needle") == ["kept needle"]

    assert store.delete_group(H)
    assert search(engine, H, "needle") == []
    store.append([NewChunk(H, "s", [(DAY_MS * 11, 1)], b"again needle")])
    assert search(engine, H, "needle") == ["again needle"]
    if engine.dialect.name == "sqlite":
        with engine.begin() as conn:  # raises when the index and the chunks disagree
            conn.execute(
                sa.text(
                    "INSERT INTO log_chunks_fts(log_chunks_fts, rank) VALUES ('integrity-check', 1)"
                )
            )
    else:
        with engine.connect() as conn:
            orphans = conn.execute(
                sa.text(
                    "SELECT count(*) FROM log_chunks c LEFT JOIN log_chunk_words w "
                    "ON w.chunk_id = c.id WHERE w.chunk_id IS NULL"
                )
            ).scalar_one()
        assert orphans == 0


def test_a_search_finds_its_words_lines_with_their_ids_and_times(engine: sa.Engine) -> None:
    store = LogStore(engine)
    lines = [f"line {n} {'needle' if n % 100 == 7 else 'hay'} {n}" for n in range(1000)]
    runs = [(1000 + n // 250, 250) for n in range(0, 1000, 250)]  # four timestamps
    store.append([NewChunk(G, "s", runs, "\n".join(lines).encode())])
    parsed = parse("needle")
    page = LogQueries(engine).filter_events(
        EventQuery(G, start_ms=1002), parsed.matches, parsed.narrowing, after_id=0,
        limit=100, max_bytes=1 << 20, max_scanned_bytes=1 << 30,
    )  # fmt: skip
    assert [event.message for event in page.events] == [lines[n] for n in range(507, 1000, 100)]
    assert [event.timestamp_ms for event in page.events] == [1002, 1002, 1002, 1003, 1003]
    assert [event.id % (1 << 16) for event in page.events] == list(range(507, 1000, 100))
