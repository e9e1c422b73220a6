"""The full-text index over log chunks: which chunks may hold a filter pattern's words.

A search asks the index for the chunks that contain every word a match needs
(the pattern's `Narrowing`), then reads only those and lets the pattern's exact
matcher decide, event by event. The index is therefore allowed to say "maybe"
but never to miss: words are runs of letters and digits on both sides (the
matcher's `WORD`), SQLite folds their case (a superset of the case-sensitive
match), PostgreSQL keeps it exact.

- SQLite: FTS5 over `log_chunks.messages` (external content; the unicode61
  tokenizer with categories `L* N*`, the same split as `WORD`), kept by the
  triggers of migration 0013.
- PostgreSQL: a `log_chunk_words` row per chunk, a tsvector of its distinct
  words built here (`array_to_tsvector`, no parser of PostgreSQL's own, whose
  notion of a word — hosts, paths, versions — differs from the matcher's),
  GIN-indexed, deleted with its chunk by a foreign key. A chunk whose words
  would not fit a tsvector (1 MB) gets the lexeme `*` instead, which every
  search also asks for: it is always read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lambdad.store.schema import log_chunks

WORD = re.compile(r"[^\W_]+")
"""A word of an event as the index has it: a run of letters and digits."""


@dataclass(frozen=True)
class Words:
    """Every one of these words is in a matching event."""

    words: tuple[str, ...]


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Narrowing, ...]


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Narrowing, ...]


Narrowing = Words | AllOf | AnyOf
"""What the index may look up (a filter pattern's; see telemetry/filter_pattern.py)."""

ALWAYS = "*"
"""PostgreSQL's lexeme of a chunk that is read by every search."""
MAX_LEXEME = 2046
MAX_TSVECTOR = 1_000_000

_fts = sa.table("log_chunks_fts", sa.column("rowid"), sa.column("log_chunks_fts"))
_words = sa.table("log_chunk_words", sa.column("chunk_id"), sa.column("words"))


def chunk_words(messages: bytes) -> list[str]:
    """The distinct words of a chunk as PostgreSQL stores them ([`*`] when too many)."""
    words = {
        word
        for word in WORD.findall(messages.decode("utf-8", "replace"))
        if len(word.encode()) <= MAX_LEXEME  # longer than any pattern: never asked for
    }
    if sum(len(word.encode()) + 8 for word in words) > MAX_TSVECTOR:
        return [ALWAYS]
    return sorted(words)


def add_chunks(conn: Connection, chunks: Sequence[tuple[int, bytes]]) -> None:
    """Index newly stored chunks (id, messages); SQLite's triggers already did."""
    if conn.dialect.name == "sqlite" or not chunks:
        return
    conn.execute(
        sa.text(
            "INSERT INTO log_chunk_words (chunk_id, words) "
            "VALUES (:chunk_id, array_to_tsvector(CAST(:words AS TEXT[])))"
        ),
        [{"chunk_id": chunk_id, "words": chunk_words(messages)} for chunk_id, messages in chunks],
    )


def index_size(conn: Connection) -> int:
    """The bytes the index takes (SQLite: its segments and sizes; PostgreSQL: the words
    table with its GIN index and TOAST)."""
    if conn.dialect.name == "sqlite":
        query = (
            "SELECT (SELECT coalesce(sum(length(block)), 0) FROM log_chunks_fts_data)"
            " + (SELECT coalesce(sum(length(sz)), 0) FROM log_chunks_fts_docsize)"
        )
    else:
        query = "SELECT pg_total_relation_size('log_chunk_words')"
    return int(conn.execute(sa.text(query)).scalar_one())


def needle_of(narrowing: Narrowing) -> bytes | None:
    """Bytes every matching event holds as they are (the longest word all must have),
    to find candidate lines in a chunk without looking at the others; None: none."""
    if isinstance(narrowing, Words):
        return max(narrowing.words, key=len).encode()
    if isinstance(narrowing, AnyOf):
        return None
    found = [needle for part in narrowing.parts if (needle := needle_of(part)) is not None]
    return max(found, key=len) if found else None


def fts5_query(narrowing: Narrowing) -> str:
    if isinstance(narrowing, Words):
        return " AND ".join(f'"{word}"' for word in narrowing.words)
    joiner = " AND " if isinstance(narrowing, AllOf) else " OR "
    return joiner.join(f"({fts5_query(part)})" for part in narrowing.parts)


def tsquery(narrowing: Narrowing) -> str:
    if isinstance(narrowing, Words):
        return " & ".join("'" + word.replace("'", "''") + "'" for word in narrowing.words)
    joiner = " & " if isinstance(narrowing, AllOf) else " | "
    assert isinstance(narrowing, AllOf | AnyOf)
    return joiner.join(f"({tsquery(part)})" for part in narrowing.parts)


def may_match(dialect: str, narrowing: Narrowing) -> sa.ColumnElement[bool]:
    """A condition on `log_chunks` that every chunk with a match meets."""
    if dialect == "sqlite":
        found = sa.select(_fts.c.rowid).where(
            sa.literal_column("log_chunks_fts").op("MATCH")(fts5_query(narrowing))
        )
        return log_chunks.c.id.in_(found)
    query = f"({tsquery(narrowing)}) | '{ALWAYS}'"
    found = sa.select(_words.c.chunk_id).where(
        sa.text("log_chunk_words.words @@ CAST(:words_query AS tsquery)").bindparams(
            words_query=query
        )
    )
    return log_chunks.c.id.in_(found)
