"""The event bus (EventBridge): buses, rules and their targets, per region.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_buses",
        sa.Column("region", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("last_modified", sa.Float, nullable=False),
    )
    op.create_table(
        "event_rules",
        sa.Column("region", sa.String(32), primary_key=True),
        sa.Column("event_bus", sa.String(256), primary_key=True),
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("event_pattern", sa.Text, nullable=True),
        sa.Column("schedule_expression", sa.String(256), nullable=True),
        sa.Column("state", sa.String(64), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("role_arn", sa.String(1600), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "event_targets",
        sa.Column("region", sa.String(32), primary_key=True),
        sa.Column("event_bus", sa.String(256), primary_key=True),
        sa.Column("rule", sa.String(64), primary_key=True),
        sa.Column("target_id", sa.String(64), primary_key=True),
        sa.Column("arn", sa.String(1600), nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("added_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("event_targets")
    op.drop_table("event_rules")
    op.drop_table("event_buses")
