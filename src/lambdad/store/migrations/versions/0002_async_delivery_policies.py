"""Event invoke configs, policy revisions, and what the async queue remembers
between attempts (throttles, the last response) for destination records.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_invoke_configs",
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("qualifier", sa.String(128), primary_key=True),
        sa.Column("maximum_retry_attempts", sa.Integer, nullable=True),
        sa.Column("maximum_event_age_s", sa.Integer, nullable=True),
        sa.Column("on_success", sa.String(350), nullable=True),
        sa.Column("on_failure", sa.String(350), nullable=True),
        sa.Column("last_modified", sa.Float, nullable=False),
    )
    op.create_table(
        "policy_revisions",
        sa.Column("function_name", sa.String(64), primary_key=True),
        sa.Column("qualifier", sa.String(128), primary_key=True),
        sa.Column("revision_id", sa.String(36), nullable=False),
    )
    with op.batch_alter_table("policies") as batch:
        batch.add_column(sa.Column("added_at", sa.Float, nullable=False, server_default="0"))
    with op.batch_alter_table("async_events") as batch:
        batch.add_column(sa.Column("throttles", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("last_response", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("async_events") as batch:
        batch.drop_column("last_response")
        batch.drop_column("throttles")
    with op.batch_alter_table("policies") as batch:
        batch.drop_column("added_at")
    op.drop_table("policy_revisions")
    op.drop_table("event_invoke_configs")
