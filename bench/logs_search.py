"""How fast FilterLogEvents searches a million log events, with the full-text index
and without it (a scan of every chunk, what searching cost before the index).

    .venv/bin/python bench/logs_search.py [--events 1000000] [--database-url postgresql://...]

Fills a fresh store (SQLite in a temp dir, and PostgreSQL when a URL is given)
with `--events` events of one log group in chunks of 250 (an invocation's
worth), as the writer stores them: text lines and JSON lines with a unique
request id each, a rare word (`needle`, 20 events) and rare JSON errors (0.05%).
Then times the store's search (what FilterLogEvents runs, from the pattern to
the page of events) for a term and a JSON pattern, with the index and with the
index bypassed, and writes the table to its section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa
from measure import write_section

from lambdad.settings import Settings
from lambdad.store import LogStore, NewChunk, create_engine, migrate
from lambdad.store.log_queries import EventQuery, LogQueries
from lambdad.telemetry.filter_pattern import parse

RESULTS = Path(__file__).with_name("RESULTS.md")
START, END = "<!-- logs-api:start -->", "<!-- logs-api:end -->"
GROUP = "/aws/lambda/bench"
PER_CHUNK = 250
PATTERNS = ["needle", '{ $.level = "ERROR" && $.latency > 500 }']
REPEAT = 5


def line(rng: random.Random, n: int, events: int) -> str:
    request = uuid.UUID(int=rng.getrandbits(128))
    if n % (events // 20) == 7:
        return f"WARN {request} found a needle in the haystack after {n} ms"
    if n % 2000 == 3:
        latency = rng.randrange(1000)
        return json.dumps({"level": "ERROR", "latency": latency, "requestId": str(request)})
    if n % 2 == 0:
        return f"INFO {request} handled GET /api/items/{n % 977} in {rng.randrange(50)} ms"
    latency = rng.randrange(1000)
    return json.dumps({"level": "INFO", "latency": latency, "requestId": str(request)})


def fill(store: LogStore, events: int) -> float:
    rng = random.Random(7)
    began = time.perf_counter()
    batch: list[NewChunk] = []
    for start in range(0, events, PER_CHUNK):
        count = min(PER_CHUNK, events - start)
        text = "\n".join(line(rng, n, events) for n in range(start, start + count))
        stream = f"2026/12/01/[$LATEST]{start // 40_000:032x}"
        batch.append(NewChunk(GROUP, stream, [(1_700_000_000_000 + start, count)], text.encode()))
        if len(batch) == 40:
            store.append(batch)
            batch = []
    if batch:
        store.append(batch)
    return time.perf_counter() - began


def search(queries: LogQueries, pattern: str, indexed: bool) -> tuple[float, int]:
    parsed = parse(pattern)
    timings = []
    found = 0
    for _ in range(REPEAT):
        began = time.perf_counter()
        page = queries.filter_events(
            EventQuery(GROUP),
            parsed.matches,
            parsed.narrowing if indexed else None,
            after_id=0,
            limit=10_000,
            max_bytes=1 << 20,
            max_scanned_bytes=1 << 40,
        )
        timings.append(time.perf_counter() - began)
        found = len(page.events)
    return statistics.median(timings) * 1000, found


def run(name: str, url: str, events: int) -> list[str]:
    engine = create_engine(url)
    migrate(engine)
    try:
        filled = fill(LogStore(engine), events)
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:  # the statistics autovacuum gathers within a minute
                conn.execute(sa.text("ANALYZE"))
        queries = LogQueries(engine)
        rows = []
        for pattern in PATTERNS:
            with_index, found = search(queries, pattern, indexed=True)
            scan, scanned_found = search(queries, pattern, indexed=False)
            assert found == scanned_found, (pattern, found, scanned_found)
            rows.append(
                f"| {name} | `{pattern}` | {found} | {with_index:.1f} | {scan:.0f} "
                f"| {scan / with_index:.0f}× |"
            )
        rows.append(f"| {name} | (storing the {events:,} events, index included) | | "
                    f"{filled * 1000:.0f} | | |")  # fmt: skip
        return rows
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    rows: list[str] = []
    with tempfile.TemporaryDirectory() as data:
        sqlite = Settings(data_dir=Path(data), database_url=None).sqlalchemy_url
        rows += run("SQLite (FTS5)", sqlite, args.events)
    if args.database_url:
        rows += run("PostgreSQL (tsvector + GIN)", args.database_url, args.events)
    command = "python bench/logs_search.py" + (" --database-url URL" if args.database_url else "")
    section = "\n".join(
        [
            START,
            f"## Log search ({args.events:,} events, one log group)",
            "",
            f"`{command}` (median of {REPEAT}; the store's search, pattern to page of events).",
            "With the index, only chunks holding the pattern's words are read and the exact",
            "matcher decides; the scan reads every chunk with the same matcher.",
            f"Load average as it finished: {' '.join(f'{v:.1f}' for v in os.getloadavg())}.",
            "",
            "| database | pattern | events found | with index ms | scan ms | speed-up |",
            "| --- | --- | ---: | ---: | ---: | ---: |",
            *rows,
            END,
        ]
    )
    write_section(RESULTS, START, END, section)
    print(section)


if __name__ == "__main__":
    sys.exit(main())
