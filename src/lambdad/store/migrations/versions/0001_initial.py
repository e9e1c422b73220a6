"""The initial schema: functions, versions, aliases, layers, mappings,
policies, the async queue and the log store.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_LOG_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "functions",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("tags", sa.JSON, nullable=False),
        sa.Column("next_version", sa.Integer, nullable=False),
        sa.Column("reserved_concurrency", sa.Integer, nullable=True),
    )
    op.create_table(
        "function_versions",
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("version", sa.String(16), primary_key=True),
        sa.Column("revision_id", sa.String(36), nullable=False),
        sa.Column("code_sha256", sa.String(64), nullable=False),
        sa.Column("code_size", sa.BigInteger, nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("last_modified", sa.Float, nullable=False),
    )
    op.create_table(
        "aliases",
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("function_version", sa.String(16), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("routing_config", sa.JSON, nullable=True),
        sa.Column("revision_id", sa.String(36), nullable=False),
    )
    op.create_table(
        "layer_versions",
        sa.Column("layer_name", sa.String(140), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("code_sha256", sa.String(64), nullable=False),
        sa.Column("code_size", sa.BigInteger, nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "event_source_mappings",
        sa.Column("uuid", sa.String(36), primary_key=True),
        sa.Column("function_name", sa.String(64), nullable=False, index=True),
        sa.Column("event_source_arn", sa.String(1024), nullable=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("last_modified", sa.Float, nullable=False),
    )
    op.create_table(
        "policies",
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("qualifier", sa.String(128), primary_key=True),
        sa.Column("statement_id", sa.String(100), primary_key=True),
        sa.Column("statement", sa.JSON, nullable=False),
    )
    op.create_table(
        "async_events",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("function_name", sa.String(64), nullable=False, index=True),
        sa.Column("qualifier", sa.String(128), nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("enqueued_at", sa.Float, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=False, index=True),
        sa.Column("trace_id", sa.String(128), nullable=True),
    )
    op.create_table(
        "log_events",
        sa.Column("id", _LOG_ID, primary_key=True, autoincrement=True),
        sa.Column("log_group", sa.String(512), nullable=False),
        sa.Column("log_stream", sa.String(512), nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
    )
    op.create_index("ix_log_events_group_stream", "log_events", ["log_group", "log_stream", "id"])
    op.create_table(
        "log_streams",
        sa.Column("log_group", sa.String(512), primary_key=True),
        sa.Column("log_stream", sa.String(512), primary_key=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "log_streams",
        "log_events",
        "async_events",
        "policies",
        "event_source_mappings",
        "layer_versions",
        "aliases",
        "function_versions",
        "functions",
    ):
        op.drop_table(table)
