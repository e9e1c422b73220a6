"""The full-text index over log chunks on a real database: a search reads only the
chunks that may match, and every way events leave (the size cap, retention,
DeleteLogGroup) takes their words out of the index with them."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lambdad.store import LogStore, NewChunk, log_queries
from lambdad.store.log_index import Words
from lambdad.store.log_queries import EventQuery, LogQueries
from lambdad.store.logs import DAY_MS
from lambdad.store.schema import log_chunks
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


JSON_PATTERNS = [
    '{ $.level = "ERROR" }',
    '{ $.level != "ERROR" }',
    "{ $.latency > 50 }",
    "{ $.latency = 25 }",
    "{ $.latency <= 1 || $.latency >= 98 }",
    '{ $.level = "ERROR" && $.latency > 50 }',
    '{ ($.level = "ERROR" || $.level = "WARN") && $.latency >= 90 }',
    '{ $.path = "/api/items/1*" }',
    '{ $.path != "/api/*" }',
    "{ $.level = %ERR|WAR% }",
    '{ $.msg = "disk full" }',
    "{ $.user IS NULL }",
    "{ $.ok IS TRUE }",
    "{ $.ok IS FALSE }",
    "{ $.user EXISTS }",
    "{ $.user NOT EXISTS }",
    '{ $.tags[0] = "red" }',
    '{ $.detail.code = "E42" }',
]


def mixed_events(chunks: int, per_chunk: int) -> list[list[str]]:
    """JSON events of every shape the patterns ask about, with text events between them
    that hold the same words (ERROR, disk full) and so are read but must not match."""
    rng = random.Random(3)
    levels = ["INFO", "INFO", "INFO", "WARN", "ERROR"]
    found: list[list[str]] = []
    for _ in range(chunks):
        lines: list[str] = []
        for n in range(per_chunk):
            if n % 3 == 0:
                lines.append(f"[ERROR] disk full on /api/items/{n} after {rng.randrange(1000)}")
                continue
            event: dict[str, object] = {
                "level": rng.choice(levels),
                "latency": rng.randrange(100),
                "path": f"/api/items/{rng.randrange(30)}" if rng.random() < 0.8 else "/health",
            }
            if rng.random() < 0.3:
                event["user"] = rng.choice([None, "ana", 7])
            if rng.random() < 0.3:
                event["ok"] = rng.choice([True, False, "true"])
            if rng.random() < 0.2:
                event["tags"] = rng.sample(["red", "green", "blue"], 2)
            if rng.random() < 0.1:
                event["msg"], event["detail"] = "disk full", {"code": f"E{rng.randrange(40, 44)}"}
            lines.append(json.dumps(event))
        found.append(lines)
    return found


def page_through(engine: sa.Engine, pattern: str, *, indexed: bool, limit: int) -> list[str]:
    """Every event a search finds, a page of `limit` at a time as FilterLogEvents resumes."""
    parsed = parse(pattern)
    queries, after, messages = LogQueries(engine), 0, []
    while True:
        page = queries.filter_events(
            EventQuery(G), parsed.matches, parsed.narrowing if indexed else None,
            after_id=after, limit=limit, max_bytes=1 << 20, max_scanned_bytes=1 << 30,
        )  # fmt: skip
        messages += [event.message for event in page.events]
        if page.resume_after is None:
            return messages
        after = page.resume_after


def test_json_patterns_find_what_the_matcher_finds_in_every_event(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(log_queries, "BATCH_CHUNKS", 3)  # a search's chunks in many batches
    store = LogStore(engine)
    chunks = mixed_events(chunks=12, per_chunk=30)
    for n, lines in enumerate(chunks):
        store.append(
            [NewChunk(G, f"s{n % 2}", [(1000 + n, len(lines))], "\n".join(lines).encode())]
        )
    everything = [line for lines in chunks for line in lines]
    for pattern in JSON_PATTERNS:
        parsed = parse(pattern)
        expected = [line for line in everything if parsed.matches(line)]
        assert expected, pattern  # each pattern finds some events, but not all
        assert len(expected) < len([line for line in everything if line.startswith("{")])
        assert page_through(engine, pattern, indexed=True, limit=1000) == expected, pattern
        assert page_through(engine, pattern, indexed=False, limit=1000) == expected, pattern
        assert page_through(engine, pattern, indexed=True, limit=7) == expected, pattern


def test_a_search_reads_its_chunks_in_few_queries(
    engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One query lists the candidate chunks, one per BATCH_BYTES of them reads them: not a
    round trip to the database per few chunks (each costs a wake-up of the server)."""
    store = LogStore(engine)
    for n in range(40):
        line = f'{{"n": {n}, "kind": "json"}}\nhay {n}'
        store.append([NewChunk(G, "s", [(1000 + n, 2)], line.encode())])
    store.append([NewChunk(G, "s", [(2000, 1)], b"not json here")])
    store.append([NewChunk(G, "s", [(2001, 1)], b"hay")])  # no candidate: never read
    with engine.connect() as conn:
        ids = conn.execute(sa.select(log_chunks.c.id).order_by(log_chunks.c.id)).scalars().all()
    batches: list[list[int]] = []
    read = log_queries._chunks_by_id

    def counted(conn: Connection, chunk_ids: list[int]) -> Sequence[Any]:
        batches.append(list(chunk_ids))
        return read(conn, chunk_ids)

    monkeypatch.setattr(log_queries, "_chunks_by_id", counted)
    pattern = '{ $.kind = "json" }'
    assert len(search(engine, G, pattern)) == 40
    assert batches == [ids[:41]]

    batches.clear()
    size = len(b'{"n": 10, "kind": "json"}\nhay 10')
    monkeypatch.setattr(log_queries, "BATCH_BYTES", 3 * size)
    assert len(search(engine, G, pattern)) == 40
    assert [len(batch) for batch in batches] == [3] * 13 + [2]
    assert [i for batch in batches for i in batch] == ids[:41]


def test_rows_read_in_binary_are_the_rows_read_as_text(engine: sa.Engine) -> None:
    store = LogStore(engine)
    store.append([NewChunk(G, "s ü", [(-5, 2)], "é\n\x00{}".encode())])
    with engine.begin() as conn:
        conn.execute(sa.update(log_chunks).values(ingested_ms=None))
    select = sa.select(*log_queries._EVENT_COLUMNS)
    with engine.connect() as conn:
        as_text = conn.execute(select).all()
        binary = conn.execute(select.execution_options(binary_results=True)).all()
    assert binary == as_text
    assert [type(value) for value in binary[0]] == [int, str, bytes, bytes, type(None)]
