"""Log events are searchable: a full-text index over the chunks' words, each chunk's
ingestion time, and an index to read one stream's chunks in order.

SQLite: an FTS5 table over `log_chunks.messages` (external content, kept by
triggers, so every deletion — retention, the size cap, DeleteLogGroup — takes
the chunk's words out of the index in the same transaction). PostgreSQL: a
`log_chunk_words` row per chunk (a tsvector of its words, GIN-indexed), deleted
with its chunk by the foreign key. See store/log_index.py.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_SQLITE = (
    """CREATE VIRTUAL TABLE log_chunks_fts USING fts5(messages, content='log_chunks',
    content_rowid='id', tokenize="unicode61 remove_diacritics 0 categories 'L* N*'")""",
    """CREATE TRIGGER log_chunks_fts_insert AFTER INSERT ON log_chunks BEGIN
    INSERT INTO log_chunks_fts(rowid, messages) VALUES (new.id, new.messages); END""",
    """CREATE TRIGGER log_chunks_fts_delete AFTER DELETE ON log_chunks BEGIN
    INSERT INTO log_chunks_fts(log_chunks_fts, rowid, messages)
    VALUES ('delete', old.id, old.messages); END""",
    "INSERT INTO log_chunks_fts(log_chunks_fts) VALUES ('rebuild')",
)
_POSTGRES = (
    """CREATE TABLE log_chunk_words (
    chunk_id BIGINT PRIMARY KEY REFERENCES log_chunks(id) ON DELETE CASCADE,
    words TSVECTOR NOT NULL)""",
    "CREATE INDEX ix_log_chunk_words ON log_chunk_words USING GIN (words)",
    # Chunks stored before the index: one lexeme that every search also asks for.
    """INSERT INTO log_chunk_words (chunk_id, words)
    SELECT id, array_to_tsvector(ARRAY['*']) FROM log_chunks""",
)


def upgrade() -> None:
    op.add_column("log_chunks", sa.Column("ingested_ms", sa.BigInteger, nullable=True))
    op.create_index(
        "ix_log_chunks_stream", "log_chunks", ["region", "log_group", "log_stream", "id"]
    )
    dialect = op.get_bind().dialect.name
    for statement in _SQLITE if dialect == "sqlite" else _POSTGRES:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER log_chunks_fts_delete")
        op.execute("DROP TRIGGER log_chunks_fts_insert")
        op.execute("DROP TABLE log_chunks_fts")
    else:
        op.execute("DROP TABLE log_chunk_words")
    op.drop_index("ix_log_chunks_stream", table_name="log_chunks")
    op.drop_column("log_chunks", "ingested_ms")
