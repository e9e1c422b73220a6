"""The log store keeps events in chunks (one row per run of a stream's events, not
one per line) and log groups with their retention.

Existing events are carried over in order, a stream's consecutive events
sharing a chunk; their ids change (ids now name a chunk and a place in it).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

from lambdad.store.logs import pack_runs

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")
_CHUNK_BYTES = 1 << 20
_CHUNK_EVENTS = 1 << 16


def upgrade() -> None:
    op.create_table(
        "log_groups",
        sa.Column("name", sa.String(512), primary_key=True),
        sa.Column("retention_days", sa.Integer, nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    chunks = op.create_table(
        "log_chunks",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("log_group", sa.String(512), nullable=False),
        sa.Column("log_stream", sa.String(512), nullable=False),
        sa.Column("first_ms", sa.BigInteger, nullable=False),
        sa.Column("last_ms", sa.BigInteger, nullable=False),
        sa.Column("event_count", sa.Integer, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("timestamps", sa.LargeBinary, nullable=False),
        sa.Column("messages", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_log_chunks_group", "log_chunks", ["log_group", "id"])
    assert chunks is not None
    _carry_over_events(chunks)
    op.drop_index("ix_log_events_group_stream", table_name="log_events")
    op.drop_table("log_events")
    conn = op.get_bind()
    conn.execute(
        sa.text(
            "INSERT INTO log_groups (name, retention_days, created_ms) "
            "SELECT log_group, NULL, MIN(created_ms) FROM log_streams GROUP BY log_group"
        )
    )


def _carry_over_events(chunks: sa.Table) -> None:
    """Old rows, in id order, into chunks; a chunk ends where its stream's run does."""
    conn = op.get_bind()
    old = sa.table(
        "log_events",
        sa.column("id"),
        sa.column("log_group"),
        sa.column("log_stream"),
        sa.column("timestamp_ms"),
        sa.column("message"),
    )
    rows: list[dict[str, Any]] = []
    key: tuple[str, str] | None = None
    runs: list[tuple[int, int]] = []
    messages: list[bytes] = []
    pending_bytes = 0

    def close() -> None:
        nonlocal pending_bytes
        pending_bytes = 0
        if key is not None and messages:
            joined = b"\n".join(messages)
            times = pack_runs(runs)
            rows.append(
                {
                    "log_group": key[0],
                    "log_stream": key[1],
                    "first_ms": runs[0][0],
                    "last_ms": runs[-1][0],
                    "event_count": len(messages),
                    "size": len(joined) + len(times),
                    "timestamps": times,
                    "messages": joined,
                }
            )
        runs.clear()
        messages.clear()
        if len(rows) >= 64:
            conn.execute(sa.insert(chunks), rows)
            rows.clear()

    query = sa.select(old.c.log_group, old.c.log_stream, old.c.timestamp_ms, old.c.message)
    for group, stream, timestamp, message in conn.execute(query.order_by(old.c.id)):
        parts = [p for p in str(message).encode().split(b"\n") if p.strip()]
        full = pending_bytes > _CHUNK_BYTES or len(messages) + len(parts) > _CHUNK_EVENTS
        if (group, stream) != key or full:
            close()
            key = (group, stream)
        if runs and runs[-1][0] == timestamp:
            runs[-1] = (runs[-1][0], runs[-1][1] + len(parts))
        elif parts:
            runs.append((int(timestamp), len(parts)))
        messages.extend(parts)
        pending_bytes += sum(map(len, parts))
    close()
    if rows:
        conn.execute(sa.insert(chunks), rows)


def downgrade() -> None:
    op.create_table(
        "log_events",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("log_group", sa.String(512), nullable=False),
        sa.Column("log_stream", sa.String(512), nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
    )
    op.create_index("ix_log_events_group_stream", "log_events", ["log_group", "log_stream", "id"])
    op.drop_index("ix_log_chunks_group", table_name="log_chunks")
    op.drop_table("log_chunks")
    op.drop_table("log_groups")
